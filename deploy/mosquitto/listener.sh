# Sourced by gen-config.sh and gen-bridge.sh: the logging and mutual-TLS listener lines
# every tinyfleet broker shares, so a site broker and the central broker cannot drift apart.

# mosq_tls_listener PORT BIND PKIDIR USER: prints logging, the optional run-as user and a
# listener that takes only clients with a certificate of the fleet CA (CN = username).
mosq_tls_listener() {
	local port=$1 bind=$2 pki=$3 user=$4
	echo "log_dest stderr"
	echo "log_type error"
	echo "log_type warning"
	echo "log_type notice"
	[ -n "$user" ] && echo "user $user"
	echo
	echo "listener $port $bind"
	echo "cafile $pki/ca.crt"
	echo "certfile $pki/broker.crt"
	echo "keyfile $pki/broker.key"
	echo "require_certificate true"
	echo "use_identity_as_username true"
	echo "tls_version tlsv1.2"
}

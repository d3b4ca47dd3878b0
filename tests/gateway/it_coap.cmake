# The CoAP/DTLS device endpoint (label it): interop with Debian's coap-client (libcoap3-bin)
# and the abuse test (half-open DTLS handshakes, stalled block-wise transfers). Both run the
# real gw_coap module in-process against real LMDB and real DTLS on 127.0.0.1.
find_program(TF_COAP_CLIENT coap-client-openssl)
if(TF_COAP_CLIENT)
  tf_add_test(NAME gateway_coap SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_coap.c
              LIBS gw tf::mbedtls LABELS it TIMEOUT 120)
  target_compile_definitions(gateway_coap PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  tf_add_test(NAME gateway_coap_abuse SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_coap_abuse.c
              LIBS gw tf::mbedtls LABELS it TIMEOUT 180)
  target_compile_definitions(gateway_coap_abuse PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
else()
  message(STATUS "coap-client-openssl not found (libcoap3-bin): no CoAP interop test")
endif()

# The resource path parser sees every Uri-Path a DTLS peer sends.
tf_add_fuzz(NAME fuzz_coap_path SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_coap_path.c
            ${PROJECT_SOURCE_DIR}/gateway/src/coap_path.c LIBS tfp)
target_include_directories(fuzz_coap_path PRIVATE ${PROJECT_SOURCE_DIR}/gateway/src)

# A mixed fleet end to end (label it): the daemon with its CoAP endpoint and a real
# Mosquitto; two simulated devices on MQTT, two on CoAP; telemetry and an update to all.
if(TARGET tfa_simdev AND TARGET tfp_delta_enc)
  tf_add_test(NAME gateway_coap_fleet SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_coap_fleet.c
              ${CMAKE_CURRENT_SOURCE_DIR}/broker.c
              LIBS gw tfa_simdev tfp_delta_enc tf::mbedtls LABELS it TIMEOUT 120)
  target_compile_definitions(gateway_coap_fleet PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             _DEFAULT_SOURCE)
endif()

# A mixed fleet takes a staged rollout (label it): tinyfleetd with its CoAP endpoint, a
# real Mosquitto, 10 tinyfleet-sim devices on MQTT and 10 on CoAP, the operator API.
if(TARGET tinyfleet-sim)
  tf_add_test(NAME gateway_coap_rollout SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_coap_rollout.c
              ${CMAKE_CURRENT_SOURCE_DIR}/broker.c LIBS gw tfa tf::jansson LABELS it
              TIMEOUT 240)
  target_compile_definitions(gateway_coap_rollout PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             TF_TINYFLEETD="$<TARGET_FILE:tinyfleetd>"
                             TF_SIM="$<TARGET_FILE:tinyfleet-sim>")
  add_dependencies(gateway_coap_rollout tinyfleetd tinyfleet-sim)
endif()

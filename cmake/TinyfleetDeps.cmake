# Finds the Debian 12 packages tinyfleet builds on and exposes each as an imported target
# named tf::<lib>, so components link by name and never repeat discovery logic.

find_package(PkgConfig REQUIRED)

# Paho's CMake config refers to OpenSSL::SSL without finding OpenSSL itself, so OpenSSL must
# be found first. Debian 12 ships 1.3.12; asking for "1.3" keeps newer patch releases usable.
find_package(OpenSSL REQUIRED)
find_package(eclipse-paho-mqtt-c 1.3 CONFIG REQUIRED)

# cmocka's config sets variables only (no imported target).
find_package(cmocka CONFIG REQUIRED)
add_library(tf::cmocka INTERFACE IMPORTED)
target_include_directories(tf::cmocka INTERFACE ${CMOCKA_INCLUDE_DIR})
target_link_libraries(tf::cmocka INTERFACE ${CMOCKA_LIBRARIES})

pkg_check_modules(TF_CBOR REQUIRED IMPORTED_TARGET libcbor)
pkg_check_modules(TF_LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(TF_UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(TF_ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(TF_LZMA REQUIRED IMPORTED_TARGET liblzma)
pkg_check_modules(TF_SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(TF_JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(TF_COAP REQUIRED IMPORTED_TARGET libcoap-3-openssl)

add_library(tf::cbor ALIAS PkgConfig::TF_CBOR)
add_library(tf::lmdb ALIAS PkgConfig::TF_LMDB)
add_library(tf::uv ALIAS PkgConfig::TF_UV)
add_library(tf::zstd ALIAS PkgConfig::TF_ZSTD)
add_library(tf::lzma ALIAS PkgConfig::TF_LZMA)
add_library(tf::systemd ALIAS PkgConfig::TF_SYSTEMD)
add_library(tf::jansson ALIAS PkgConfig::TF_JANSSON)
add_library(tf::coap ALIAS PkgConfig::TF_COAP)

# libdivsufsort ships neither pkg-config nor a CMake config.
find_library(TF_DIVSUFSORT_LIB divsufsort REQUIRED)
find_path(TF_DIVSUFSORT_INC divsufsort.h REQUIRED)
add_library(tf::divsufsort INTERFACE IMPORTED)
target_include_directories(tf::divsufsort INTERFACE ${TF_DIVSUFSORT_INC})
target_link_libraries(tf::divsufsort INTERFACE ${TF_DIVSUFSORT_LIB})

# mbedTLS 2.28 has neither pkg-config nor a CMake config: find its three libraries.
# Its 2.x API is used throughout (mbedtls_sha256_ret, mbedtls_ecdsa_verify, ...).
find_path(TF_MBEDTLS_INC mbedtls/version.h REQUIRED)
find_library(TF_MBEDTLS_LIB mbedtls REQUIRED)
find_library(TF_MBEDX509_LIB mbedx509 REQUIRED)
find_library(TF_MBEDCRYPTO_LIB mbedcrypto REQUIRED)
add_library(tf::mbedtls INTERFACE IMPORTED)
target_include_directories(tf::mbedtls INTERFACE ${TF_MBEDTLS_INC})
target_link_libraries(tf::mbedtls INTERFACE ${TF_MBEDTLS_LIB} ${TF_MBEDX509_LIB}
                      ${TF_MBEDCRYPTO_LIB})

# Interop tests need Debian's python3 with python3-cryptography, -cbor2 and -jsonschema, not
# whatever python3 comes first on PATH (a pyenv shim, say).
set(Python3_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "Debian's python3 for interop tests")
find_package(Python3 REQUIRED COMPONENTS Interpreter)

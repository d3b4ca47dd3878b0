# The MQTT link against a real Mosquitto with the project's PKI and ACL (label it).
tf_add_test(NAME gateway_mqtt_link SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_mqtt_link.c
            ${CMAKE_CURRENT_SOURCE_DIR}/broker.c LIBS gw LABELS it TIMEOUT 120)
target_compile_definitions(gateway_mqtt_link PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# tinyfleetd as a process: starts, ingests telemetry, reloads, drains on SIGTERM (label it).
tf_add_test(NAME gateway_daemon SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_daemon.c
            ${CMAKE_CURRENT_SOURCE_DIR}/broker.c LIBS gw LABELS it TIMEOUT 120)
target_compile_definitions(gateway_daemon PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                           TF_TINYFLEETD="$<TARGET_FILE:tinyfleetd>"
                           TF_PYTHON="${Python3_EXECUTABLE}")
add_dependencies(gateway_daemon tinyfleetd)

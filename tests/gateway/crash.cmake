# Crash test (label it): tinyfleetd killed with SIGKILL 50 times under device and operator
# load against a real Mosquitto; after each kill the store holds everything acknowledged.
if(TARGET tinyfleet-sim)
  tf_add_test(NAME gateway_crash SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_crash.c
              ${CMAKE_CURRENT_SOURCE_DIR}/broker.c LIBS gw tf::jansson tf::lmdb LABELS it
              TIMEOUT 90)
  target_compile_definitions(gateway_crash PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             TF_TINYFLEETD="$<TARGET_FILE:tinyfleetd>"
                             TF_SIM="$<TARGET_FILE:tinyfleet-sim>"
                             TF_MODEL_TOOL="$<TARGET_FILE:ota-model-tool>")
  add_dependencies(gateway_crash tinyfleetd tinyfleet-sim ota-model-tool)
endif()

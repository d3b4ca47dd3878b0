# Rollouts end to end (label it): tinyfleetd, a real Mosquitto, 200 tinyfleet-sim devices;
# a 3-wave rollout completes and a quality gate rolls a bad canary back.
if(TARGET tinyfleet-sim)
  tf_add_test(NAME gateway_rollout_it SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_rollout.c
              ${CMAKE_CURRENT_SOURCE_DIR}/broker.c LIBS gw tfa tf::jansson LABELS it
              TIMEOUT 300)
  target_compile_definitions(gateway_rollout_it PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             TF_TINYFLEETD="$<TARGET_FILE:tinyfleetd>"
                             TF_SIM="$<TARGET_FILE:tinyfleet-sim>"
                             TF_PYTHON="${Python3_EXECUTABLE}")
  add_dependencies(gateway_rollout_it tinyfleetd tinyfleet-sim)
endif()

# OTA tests (test_ota_*.c, globbed by CMakeLists.txt into agent_ota_*): they also need the
# posix port (flash with power-cut instrumentation) and the gateway's delta encoder, which
# makes the patches the device applies.
foreach(t agent_ota_basic agent_ota_power agent_ota_attack agent_ota_config)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE tfa_posix tfp_delta_enc)
    set_tests_properties(${t} PROPERTIES TIMEOUT 120)
  endif()
endforeach()

# agent_sim_verify_share: the OTA core's manifest-check hook and tinyfleet-sim's shared
# check (device-agent/sim/verify_share.c).
if(TARGET agent_sim_verify_share)
  if(TARGET tfa_simdev)
    target_link_libraries(agent_sim_verify_share PRIVATE tfa_simdev tfa_posix tfp_delta_enc)
  else()
    set_tests_properties(agent_sim_verify_share PROPERTIES DISABLED TRUE)
  endif()
endif()

# agent_ota_mqtt (label it): a simulated device against a real Mosquitto with the PKI and
# ACL (the gateway tests' broker harness), mutual TLS, state, a delta update over MQTT.
if(TARGET tfa_simdev)
  tf_add_test(NAME agent_ota_mqtt SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_ota_mqtt.c
              ${PROJECT_SOURCE_DIR}/tests/gateway/broker.c
              LIBS tfa_simdev tfp_delta_enc LABELS it TIMEOUT 120)
  target_compile_definitions(agent_ota_mqtt PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             _DEFAULT_SOURCE)
endif()

# agent_sim_faults (label it): tinyfleet-sim as a child process with power cuts and flaky
# links, the test playing the gateway; checks the simulator's --summary.
if(TARGET tinyfleet-sim)
  tf_add_test(NAME agent_sim_faults SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_sim_faults.c
              ${PROJECT_SOURCE_DIR}/tests/gateway/broker.c
              LIBS tfa_simdev tfp_delta_enc tf::jansson LABELS it TIMEOUT 240)
  target_compile_definitions(agent_sim_faults PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             TF_SIM_PATH="$<TARGET_FILE:tinyfleet-sim>" _DEFAULT_SOURCE)
  add_dependencies(agent_sim_faults tinyfleet-sim)
endif()

# ota-model-tool: writes the tests' model container for tinyfleet-sim and its benchmark.
add_executable(ota-model-tool ${CMAKE_CURRENT_SOURCE_DIR}/ota_model_tool.c)
target_link_libraries(ota-model-tool PRIVATE tfa_posix tfp_delta_enc tf::cmocka)
# Room for the benchmark's 16->128->128->4 model (about 22 KB).
target_compile_definitions(ota-model-tool PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}" TB_MAX=32768)

# agent_sim_smoke (label it): tinyfleet-sim with 20 devices against a local Mosquitto with a
# fresh PKI (the benchmark script at a small scale).
if(TARGET tinyfleet-sim)
  add_test(NAME agent_sim_smoke
           COMMAND bash ${PROJECT_SOURCE_DIR}/bench/agent/run.sh ${PROJECT_BINARY_DIR} 20)
  set_tests_properties(agent_sim_smoke PROPERTIES LABELS it TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "20 devices connected")
endif()

# agent_smoke (label it): tinyfleet-agent publishes conn, state and telemetry over mutual
# TLS, and restarts from its flash file.
if(TARGET tinyfleet-agent)
  add_test(NAME agent_smoke
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/agent_smoke.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(agent_smoke PROPERTIES LABELS it TIMEOUT 120)
endif()

# fuzz_ota: untrusted commands and chunks into a provisioned device (seeds:
# tests/fuzz/corpus/ota/, written by `ota-model-tool --fuzz-seeds`).
tf_add_fuzz(NAME fuzz_ota SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_ota.c
            LIBS tfa_posix tfp_delta_enc tf::cmocka)
target_compile_definitions(fuzz_ota PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# agent_sim_learner: the simulator's learner runs the drift detectors, publishes an alarm at
# once and takes thresholds from config commands (a real simulated device, no broker).
if(TARGET tfa_simdev)
  tf_add_test(NAME agent_sim_learner SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/it_sim_learner.c
              LIBS tfa_simdev tfp_delta_enc TIMEOUT 60)
  target_compile_definitions(agent_sim_learner PRIVATE TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()

# Extra tests of the learning modules (container packer, inference, TinyOL).
#
# learn_packer: tools/model/check_packer.py writes tiny .npz models (a 1-D CNN with static
# activation quantisation, an MLP with dynamic quantisation and pruning), packs them with
# tfpack.py, and learn_packcheck runs the C runtime on them against numpy's float forward
# pass (and the containers' own self-test vectors).
add_executable(learn_packcheck ${CMAKE_CURRENT_SOURCE_DIR}/learn_packcheck.c)
target_link_libraries(learn_packcheck PRIVATE tfa)
add_test(NAME learn_packer
         COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/model/check_packer.py
                 --checker $<TARGET_FILE:learn_packcheck>
                 --workdir ${CMAKE_CURRENT_BINARY_DIR}/packcheck)
set_tests_properties(learn_packer PROPERTIES LABELS it TIMEOUT 120)

# learn_eval: tinyfleet-eval on a stream whose labels swap half way (frozen collapses,
# TinyOL recovers) and on malformed input.
if(TARGET tinyfleet-eval)
  add_test(NAME learn_eval
           COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/eval/check_eval.py
                   $<TARGET_FILE:tinyfleet-eval> ${CMAKE_CURRENT_BINARY_DIR}/evalcheck)
  set_tests_properties(learn_eval PROPERTIES LABELS it TIMEOUT 120)
endif()

# learn_demo_models: trains the demo models (digits MLP, vibration 1-D CNN) into the build
# directory with tools/model's reproducible scripts and checks them with the C tools.
if(TARGET tinyfleet-eval)
  add_test(NAME learn_demo_models
           COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/model/make_demo_models.py
                   --out ${PROJECT_BINARY_DIR}/models --eval $<TARGET_FILE:tinyfleet-eval>
                   --packcheck $<TARGET_FILE:learn_packcheck>)
  set_tests_properties(learn_demo_models PROPERTIES LABELS it TIMEOUT 300)
endif()

# agent_tinyol_momentum: the TinyOL tests again with the momentum storage compiled in
# (TFA_WITH_MOMENTUM=1 changes struct tfa_tinyol, so the core is compiled into the test).
add_executable(agent_tinyol_momentum ${CMAKE_CURRENT_SOURCE_DIR}/test_tinyol.c
               ${PROJECT_SOURCE_DIR}/device-agent/src/tinyol.c
               ${PROJECT_SOURCE_DIR}/device-agent/src/infer.c
               ${PROJECT_SOURCE_DIR}/device-agent/src/crc32.c
               ${PROJECT_SOURCE_DIR}/device-agent/src/error.c)
target_include_directories(agent_tinyol_momentum PRIVATE
                           ${PROJECT_SOURCE_DIR}/device-agent/include
                           ${PROJECT_SOURCE_DIR}/device-agent/src)
target_compile_definitions(agent_tinyol_momentum PRIVATE TFA_WITH_MOMENTUM=1)
target_link_libraries(agent_tinyol_momentum PRIVATE tf::cmocka tfp m)
add_test(NAME agent_tinyol_momentum COMMAND agent_tinyol_momentum)
set_tests_properties(agent_tinyol_momentum PROPERTIES LABELS unit TIMEOUT 300)

# fuzz_tinyol_blob: TinyOL's saved-state decoder (corpus: tests/fuzz/corpus/tinyol_blob/).
tf_add_fuzz(NAME fuzz_tinyol_blob SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_tinyol_blob.c
            LIBS tfa)

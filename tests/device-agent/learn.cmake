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

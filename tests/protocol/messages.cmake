# Device-plane message codecs (msg_state, msg_command, msg_chunk, msg_report): the cmocka
# binaries come from the test_msg_*.c glob; they share msg_testutil.c. The independent
# decoder check runs Debian's python3-cbor2 over the committed examples, and each decoder
# has a fuzz target whose seeds test_msg_examples writes (see regen-msg-examples.sh).
foreach(t state command chunk report examples)
  if(TARGET protocol_msg_${t})
    target_sources(protocol_msg_${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/msg_testutil.c)
    target_include_directories(protocol_msg_${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  endif()
endforeach()

add_test(NAME protocol_msg_cbor2
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_msg_cbor.py
          ${PROJECT_SOURCE_DIR}/schemas/examples)
set_tests_properties(protocol_msg_cbor2 PROPERTIES LABELS it TIMEOUT 60)

# The other direction: cbor2 writes each example in a form our encoder never produces
# (other key order, doubles) and our decoders must accept it and re-encode it exactly.
set(TF_MSG_FOREIGN_DIR ${CMAKE_CURRENT_BINARY_DIR}/msg_cbor2_forms)
add_test(NAME protocol_msg_cbor2_emit
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_msg_cbor.py
          --emit ${TF_MSG_FOREIGN_DIR} ${PROJECT_SOURCE_DIR}/schemas/examples)
set_tests_properties(protocol_msg_cbor2_emit PROPERTIES LABELS it TIMEOUT 60
  FIXTURES_SETUP msg_cbor2_forms)
add_test(NAME protocol_msg_from_cbor2 COMMAND protocol_msg_examples)
set_tests_properties(protocol_msg_from_cbor2 PROPERTIES LABELS it TIMEOUT 60
  ENVIRONMENT TFP_FOREIGN_DIR=${TF_MSG_FOREIGN_DIR} FIXTURES_REQUIRED msg_cbor2_forms)

foreach(t state command chunk report)
  tf_add_fuzz(NAME fuzz_msg_${t} SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_msg_${t}.c
              LIBS tfp)
endforeach()

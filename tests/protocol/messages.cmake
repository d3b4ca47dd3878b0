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

foreach(t state command chunk report)
  tf_add_fuzz(NAME fuzz_msg_${t} SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_msg_${t}.c
              LIBS tfp)
endforeach()

# Telemetry (SenML-CBOR, RFC 8428): the interop helper, the Python interop test and the
# fuzz target. The unit tests are test_telemetry.c (globbed by CMakeLists.txt).

add_executable(telemetry_tool ${PROJECT_SOURCE_DIR}/tests/interop/telemetry_tool.c)
target_link_libraries(telemetry_tool PRIVATE tfp)
target_include_directories(telemetry_tool PRIVATE ${CMAKE_CURRENT_LIST_DIR})

# Debian's python3-cbor2 decodes our packs and resolves them per RFC 8428 on its own, and
# builds packs our decoder must read.
add_test(NAME protocol_telemetry_interop
         COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/interop/telemetry_check.py
                 $<TARGET_FILE:telemetry_tool> ${CMAKE_CURRENT_BINARY_DIR}/telemetry_interop
                 ${PROJECT_SOURCE_DIR}/schemas/examples)
set_tests_properties(protocol_telemetry_interop PROPERTIES LABELS it TIMEOUT 120)

tf_add_fuzz(NAME fuzz_telemetry SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_telemetry.c
            LIBS tfp)

# test_senml.c tests the library-private SenML layer (protocol/src/senml.h).
target_include_directories(protocol_senml PRIVATE ${PROJECT_SOURCE_DIR}/protocol/src)

# The operator API's request front end (label fuzz; seeds: the contract's request examples,
# tests/fuzz/corpus/api_request, byte 0 = the operation).
tf_add_fuzz(NAME fuzz_api_request SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_api_request.c
            LIBS gw)

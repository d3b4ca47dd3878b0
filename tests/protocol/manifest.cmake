# Manifest and COSE_Sign1: extra links for the unit tests, the interop test against
# Python's cryptography + cbor2, the seed-reproducibility check and the fuzz targets.

# Known-answer tests parse Wycheproof's JSON.
target_link_libraries(protocol_cose_sign1 PRIVATE tf::jansson)

# Host CLI that the interop test drives and that writes the fuzz seeds.
add_executable(manifest_tool ${PROJECT_SOURCE_DIR}/tests/interop/manifest_tool.c)
target_link_libraries(manifest_tool PRIVATE tfp tf::jansson)

set(TF_MANIFEST_KEYS ${PROJECT_SOURCE_DIR}/tests/interop/keys)
add_test(NAME manifest_interop_python
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/interop/cose_interop.py
          --tool $<TARGET_FILE:manifest_tool>
          --workdir ${CMAKE_CURRENT_BINARY_DIR}/manifest_interop
          --source ${PROJECT_SOURCE_DIR})
set_tests_properties(manifest_interop_python PROPERTIES LABELS it TIMEOUT 300)

# The committed seeds are exactly what the generator writes (deterministic ECDSA).
add_test(NAME manifest_fuzz_seeds_reproducible
  COMMAND manifest_tool seeds ${TF_MANIFEST_KEYS}/release-test.key.pem
          ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/manifest_verify
          ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/manifest_decode --check)
set_tests_properties(manifest_fuzz_seeds_reproducible PROPERTIES LABELS unit TIMEOUT 60)

tf_add_fuzz(NAME fuzz_manifest_verify
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_manifest_verify.c LIBS tfp)
tf_add_fuzz(NAME fuzz_manifest_decode
  SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_manifest_decode.c LIBS tfp)

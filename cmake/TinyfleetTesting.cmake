# Test helpers shared by every component's tests.
#
#   tf_add_test(NAME <name> SOURCES <src...> LIBS <lib...> LABELS <unit|it|...>)
#       A cmocka binary registered with CTest under its labels.
#   tf_add_fuzz(NAME fuzz_<x> SOURCES <src...> LIBS <lib...>)
#       A libFuzzer target defining LLVMFuzzerTestOneInput. With TF_FUZZ it links libFuzzer
#       (run it by hand or from .ci/run); otherwise it links a small replay driver. Either
#       way CTest replays the seed corpus and the regressions (label "fuzz").

function(tf_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE tf::cmocka ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()

function(tf_add_fuzz)
  cmake_parse_arguments(F "" "NAME" "SOURCES;LIBS" ${ARGN})
  if(NOT F_NAME MATCHES "^fuzz_")
    message(FATAL_ERROR "fuzz target ${F_NAME}: names start with fuzz_")
  endif()
  add_executable(${F_NAME} ${F_SOURCES})
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  if(TF_FUZZ)
    target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(${F_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c)
  endif()
  # Seeds live in tests/fuzz/corpus/<x>/ and crash reproducers in tests/fuzz/regressions/<x>/
  # for a target named fuzz_<x>; tests/fuzz/run-all.sh uses the same convention.
  string(REGEX REPLACE "^fuzz_" "" short ${F_NAME})
  set(dirs ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${short})
  if(EXISTS ${PROJECT_SOURCE_DIR}/tests/fuzz/regressions/${short})
    list(APPEND dirs ${PROJECT_SOURCE_DIR}/tests/fuzz/regressions/${short})
  endif()
  # A replay is a regression test: every input runs once and must not crash.
  if(TF_FUZZ)
    add_test(NAME ${F_NAME}_replay COMMAND ${F_NAME} -runs=0 ${dirs})
  else()
    add_test(NAME ${F_NAME}_replay COMMAND ${F_NAME} ${dirs})
  endif()
  set_tests_properties(${F_NAME}_replay PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()

#   tf_test_area(PREFIX <prefix> LIBS <lib...>)
#       For the calling tests/<area>/ folder: every test_<module>.c becomes the cmocka test
#       <prefix>_<module> (label unit) linked with the libraries, with TF_SOURCE_DIR and
#       TF_SHARED_DIR defined; then every *.cmake fragment of the folder is included, for
#       tests that need more (interop scripts, fuzz targets, integration tests).
macro(tf_test_area)
  cmake_parse_arguments(A "" "PREFIX" "LIBS" ${ARGN})
  file(GLOB _tf_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test_*.c)
  foreach(_tf_src ${_tf_tests})
    get_filename_component(_tf_name ${_tf_src} NAME_WE)
    string(REGEX REPLACE "^test_" "${A_PREFIX}_" _tf_name ${_tf_name})
    tf_add_test(NAME ${_tf_name} SOURCES ${_tf_src} LIBS ${A_LIBS} LABELS unit)
    target_compile_definitions(${_tf_name} PRIVATE
      TF_SOURCE_DIR="${PROJECT_SOURCE_DIR}" TF_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  endforeach()
  file(GLOB _tf_fragments CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cmake)
  foreach(_tf_fragment ${_tf_fragments})
    include(${_tf_fragment})
  endforeach()
endmacro()

# OTA tests (test_ota_*.c, globbed by CMakeLists.txt into agent_ota_*): they also need the
# posix port (flash with power-cut instrumentation) and the gateway's delta encoder, which
# makes the patches the device applies.
foreach(t agent_ota_basic agent_ota_power agent_ota_attack)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE tfa_posix tfp_delta_enc)
    set_tests_properties(${t} PROPERTIES TIMEOUT 120)
  endif()
endforeach()

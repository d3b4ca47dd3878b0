# CMake toolchain file: bare-metal Cortex-M4F with Debian's gcc-arm-none-eabi and
# libnewlib-arm-none-eabi (newlib-nano). Used by firmware/CMakeLists.txt (firmware/build.sh):
#   cmake -S firmware -B build/firmware -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake
# The flags are the device build's contract: Cortex-M4 with the single-precision FPU,
# hard-float ABI, Thumb-2, optimised for size; newlib-nano as the C library.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(TF_ARM_PREFIX arm-none-eabi- CACHE STRING "cross tool prefix")
set(CMAKE_C_COMPILER ${TF_ARM_PREFIX}gcc)
set(CMAKE_ASM_COMPILER ${TF_ARM_PREFIX}gcc)
set(CMAKE_AR ${TF_ARM_PREFIX}ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${TF_ARM_PREFIX}ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY ${TF_ARM_PREFIX}objcopy CACHE FILEPATH "")
set(CMAKE_SIZE ${TF_ARM_PREFIX}size CACHE FILEPATH "")

# No host program can run: test the compiler by building a static library only.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(TF_ARM_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
set(CMAKE_C_FLAGS_INIT "${TF_ARM_CPU_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${TF_ARM_CPU_FLAGS}")
set(CMAKE_C_FLAGS_MINSIZEREL_INIT "-Os")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${TF_ARM_CPU_FLAGS} --specs=nano.specs -Wl,--gc-sections")

# Never pick up host headers or libraries.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

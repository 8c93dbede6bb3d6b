# Cross-compiles kws for 64-bit ARM Linux with Debian's GNU toolchain
# (g++-aarch64-linux-gnu); ctest runs the test programs under qemu user-mode emulation
# (qemu-user-static), with the ARM C++ runtime from /usr/aarch64-linux-gnu.
#   cmake -S . -B build/arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# scripts/test_arm.sh installs both packages and runs the ARM tests.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(KWS_ARM_PREFIX aarch64-linux-gnu)
set(KWS_ARM_SYSROOT /usr/${KWS_ARM_PREFIX})
set(CMAKE_C_COMPILER ${KWS_ARM_PREFIX}-gcc)
set(CMAKE_CXX_COMPILER ${KWS_ARM_PREFIX}-g++)

# Headers and libraries from the ARM tree only; programs (ninja, python) from the host.
set(CMAKE_FIND_ROOT_PATH ${KWS_ARM_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(KWS_QEMU_AARCH64 qemu-aarch64-static)
if(NOT KWS_QEMU_AARCH64)
  set(KWS_QEMU_AARCH64 qemu-aarch64-static)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${KWS_QEMU_AARCH64} -L ${KWS_ARM_SYSROOT})

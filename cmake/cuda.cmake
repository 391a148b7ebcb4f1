# TESSERA_CUDA=AUTO builds the CUDA kernels whenever nvcc is found; ON requires it; OFF skips it.
set(TESSERA_WITH_CUDA OFF)
if(NOT TESSERA_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Only for enable_language's compiler check: the real targets come from TORCH_CUDA_ARCH_LIST
    # (cmake/torch.cmake), since find_package(Torch) sets CMAKE_CUDA_ARCHITECTURES OFF.
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80)
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)   # CMake 3.25 has no C++20 flags for nvcc; kernels need only 17
    set(TESSERA_WITH_CUDA ON)
  elseif(TESSERA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "tessera CUDA kernels: ${TESSERA_WITH_CUDA}")

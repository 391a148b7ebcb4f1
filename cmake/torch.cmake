# LibTorch: from Torch_DIR / CMAKE_PREFIX_PATH if given, else from the venv's torch wheel.
if(NOT Torch_DIR)
  set(TESSERA_PYTHON "$ENV{TESSERA_PYTHON}" CACHE FILEPATH "Python whose torch provides LibTorch")
  if(NOT TESSERA_PYTHON)
    set(TESSERA_PYTHON "$ENV{HOME}/.cache/tessera/venv/bin/python")
  endif()
  if(EXISTS "${TESSERA_PYTHON}")
    execute_process(COMMAND "${TESSERA_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
    if(_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
    endif()
  endif()
endif()

# The wheel's Caffe2 config looks for the CUDA toolkit; tell it where ours is.
if(EXISTS /usr/local/cuda AND NOT CUDAToolkit_ROOT)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
# TORCH_CUDA_ARCH_LIST decides the GPU code tessera's kernels carry: find_package(Torch) turns it
# into -gencode flags and sets CMAKE_CUDA_ARCHITECTURES OFF. Default: sm_80 (A100) and sm_90
# (H100/H200) machine code plus compute_90 PTX, which the driver JIT-compiles for newer GPUs. Naming
# the list also stops the wheel's config from probing for a GPU (none here).
set(TESSERA_CUDA_ARCH_LIST "8.0;9.0+PTX" CACHE STRING "GPU targets of the CUDA kernels (TORCH_CUDA_ARCH_LIST syntax)")
if(DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TESSERA_CUDA_ARCH_LIST "$ENV{TORCH_CUDA_ARCH_LIST}" CACHE STRING "" FORCE)
endif()
set(ENV{TORCH_CUDA_ARCH_LIST} "${TESSERA_CUDA_ARCH_LIST}")
# The wheel's config warns about any CMAKE_CUDA_ARCHITECTURES and then sets it OFF: do the same
# without the warning (enable_language(CUDA) defined it for its compiler check).
unset(CMAKE_CUDA_ARCHITECTURES)
unset(CMAKE_CUDA_ARCHITECTURES CACHE)
find_package(Torch REQUIRED)
if(TESSERA_WITH_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES OFF)  # the -gencode flags from TORCH_CUDA_ARCH_LIST decide
endif()
if(Torch_VERSION VERSION_LESS 2.0)
  message(FATAL_ERROR "tessera needs LibTorch 2.x; found ${Torch_VERSION} at ${Torch_DIR}")
endif()
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR "The LibTorch at ${Torch_DIR} is a pre-CXX11-ABI build "
          "(-D_GLIBCXX_USE_CXX11_ABI=0). tessera links Debian's C++ libraries (OpenCV, yaml-cpp, "
          "spdlog) which use the CXX11 ABI; use the cxx11-abi LibTorch or the venv's torch wheel.")
endif()
get_filename_component(TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
message(STATUS "LibTorch ${Torch_VERSION} at ${TORCH_LIB_DIR}")

{
  "targets": [{
    "target_name": "sparkts",
    "sources": ["src/glue.cc", "src/core.cc", "src/custom_ops.cc", "src/dist.cc", "src/cpu_allocator.cc", "src/profiler.cc", "generated/ops.cc"],
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "<!@(node ../scripts/libtorch.mjs --include-dirs)"
    ],
    "libraries": ["<!@(node ../scripts/libtorch.mjs --link-flags)"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node ../scripts/libtorch.mjs --defines)"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations", "-Wno-missing-field-initializers"]
  }]
}

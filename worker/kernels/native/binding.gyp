{
  "targets": [
    {
      "target_name": "ringtune_onednn",
      "sources": ["onednn.cc", "op.cc", "conv.cc", "matmul.cc", "bnorm.cc", "binary.cc", "pool.cc"],
      "dependencies": ["ringtune_adam"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-fopenmp", "-Wall", "-Wextra"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    },
    {
      "target_name": "ringtune_adam",
      "type": "static_library",
      "sources": ["adam.cc"],
      "cflags": ["-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}

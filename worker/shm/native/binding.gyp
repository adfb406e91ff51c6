{
  "targets": [
    {
      "target_name": "ringtune_shm",
      "sources": ["shm.cc"],
      "cflags_cc": ["-O3", "-fno-exceptions", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}

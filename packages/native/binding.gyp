{
  "targets": [
    {
      "target_name": "nexodus_native",
      "sources": ["native/addon.c", "native/udp_batch.c", "native/aead.c", "native/checksum.c", "native/tun.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}

# Built by `node-gyp rebuild`, which npm runs as this package's install script.
{
  "targets": [
    {
      "target_name": "crc32c",
      "sources": ["native/crc32c.c"],
      # Every call in crc32c.c exists since Node-API 1, so asking for no more keeps the one
      # binary loadable by every Node the workspace supports.
      "defines": ["NAPI_VERSION=1"],
      "cflags": ["-Wall", "-Wextra", "-O3"]
    }
  ]
}

/*
 * CRC32C (Castagnoli) for Spool's records: one value, or every record of a batch in one call.
 *
 * A batch of 1 KiB records spent a quarter of its JavaScript time in checksums, most of it
 * crossing into native code once per record and making a view for it. sealRecords crosses once
 * per batch and checksums three records at a time: the CPU's crc32 instruction takes three
 * cycles to give its answer but can start a new one every cycle, so three independent records
 * keep it busy where one record's dependent chain would leave it idle two cycles in three.
 *
 * Plain C against node_api.h only (Node-API is ABI-stable). x86-64 uses SSE4.2's crc32 when the
 * CPU has it, found at load time; elsewhere, or without it, a slicing-by-8 table (or with
 * SPOOL_CRC32C_TABLE=1 in the environment).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* The record layout's fixed points (packages/core/src/Record.ts). */
#define HEADER_BYTE_SIZE 40
#define LENGTH_FIELD_OFFSET 8
#define CHECKSUM_FIELD_OFFSET 32

/* CRC32C's polynomial, bit-reversed. */
#define POLYNOMIAL 0x82f63b78u

static uint32_t table[8][256];
static int hardware = 0;

static void build_table(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t crc = n;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (POLYNOMIAL & (0u - (crc & 1u)));
    table[0][n] = crc;
  }
  for (uint32_t n = 0; n < 256; n++) {
    for (int k = 1; k < 8; k++) table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xff];
  }
}

static uint64_t load64(const uint8_t *p) {
  uint64_t word;
  memcpy(&word, p, sizeof word);
  return word;
}

/* The running register (not inverted) over n bytes, by table. */
static uint32_t update_table(uint32_t crc, const uint8_t *p, size_t n) {
  while (n >= 8) {
    /* Little-endian: the first byte is the low byte, as the reflected CRC wants it. */
    uint64_t word = load64(p) ^ crc;
    crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^ table[5][(word >> 16) & 0xff] ^
          table[4][(word >> 24) & 0xff] ^ table[3][(word >> 32) & 0xff] ^
          table[2][(word >> 40) & 0xff] ^ table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t update_hardware(uint32_t crc, const uint8_t *p,
                                                                   size_t n) {
  uint64_t wide = crc;
  while (n >= 8) {
    wide = _mm_crc32_u64(wide, load64(p));
    p += 8;
    n -= 8;
  }
  crc = (uint32_t)wide;
  while (n-- > 0) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}

/* Three registers over the first n bytes (a multiple of 8) of three ranges, interleaved. */
__attribute__((target("sse4.2"))) static void update_hardware3(uint32_t crc[3], const uint8_t *a,
                                                                const uint8_t *b, const uint8_t *c,
                                                                size_t n) {
  uint64_t x = crc[0], y = crc[1], z = crc[2];
  for (size_t at = 0; at < n; at += 8) {
    x = _mm_crc32_u64(x, load64(a + at));
    y = _mm_crc32_u64(y, load64(b + at));
    z = _mm_crc32_u64(z, load64(c + at));
  }
  crc[0] = (uint32_t)x;
  crc[1] = (uint32_t)y;
  crc[2] = (uint32_t)z;
}
#endif

static uint32_t update(uint32_t crc, const uint8_t *p, size_t n) {
#if defined(__x86_64__)
  if (hardware) return update_hardware(crc, p, n);
#endif
  return update_table(crc, p, n);
}

/* Reads value as a Uint8Array (a Buffer is one); throws a TypeError and returns 0 if not. */
static int bytes_argument(napi_env env, napi_value value, const char *what, uint8_t **data,
                          size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *base = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, &base, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
    return 0;
  }
  *data = base;
  return 1;
}

/* crc32c(bytes, initial = 0): the CRC32C of bytes, continuing from a CRC of the bytes before. */
static napi_value crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "crc32c expects a Uint8Array");
    return NULL;
  }
  uint8_t *data;
  size_t length;
  if (!bytes_argument(env, argv[0], "crc32c expects a Uint8Array", &data, &length)) return NULL;
  uint32_t initial = 0;
  if (argc >= 2) {
    napi_valuetype type;
    if (napi_typeof(env, argv[1], &type) != napi_ok) return NULL;
    if (type != napi_undefined &&
        (type != napi_number || napi_get_value_uint32(env, argv[1], &initial) != napi_ok)) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "crc32c's initial value is a number");
      return NULL;
    }
  }
  napi_value result;
  if (napi_create_uint32(env, ~update(~initial, data, length), &result) != napi_ok) return NULL;
  return result;
}

/* The bytes the checksum of the record at start covers: its header and payload. */
static size_t covered_at(const uint8_t *target, uint32_t start) {
  uint32_t payload;
  memcpy(&payload, target + start + LENGTH_FIELD_OFFSET, sizeof payload);
  return (size_t)HEADER_BYTE_SIZE + payload;
}

/* Whether the record at start, header and payload, lies within length bytes. */
static int record_fits(const uint8_t *target, size_t length, uint32_t start) {
  return (size_t)start + HEADER_BYTE_SIZE <= length &&
         (size_t)start + covered_at(target, start) <= length;
}

static void store_checksum(uint8_t *record, uint32_t register_value) {
  uint32_t sum = ~register_value;
  memcpy(record + CHECKSUM_FIELD_OFFSET, &sum, sizeof sum);
}

/*
 * sealRecords(target, starts, count): for each of the first count offsets in starts, the record
 * there (its checksum field zero) gets its CRC32C written into that field. Every record is
 * checked to fit before any is touched: a RangeError leaves target as it was.
 */
static napi_value seal_records(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "sealRecords expects a Uint8Array, a Uint32Array and a count");
    return NULL;
  }
  uint8_t *target;
  size_t length;
  if (!bytes_argument(env, argv[0], "sealRecords expects a Uint8Array target", &target, &length)) {
    return NULL;
  }
  bool is_typed = false;
  napi_typedarray_type type;
  size_t start_count;
  void *starts_base = NULL;
  if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &start_count, &starts_base, NULL, NULL) !=
          napi_ok ||
      type != napi_uint32_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "sealRecords expects a Uint32Array of starts");
    return NULL;
  }
  const uint32_t *starts = starts_base;
  uint32_t count;
  napi_valuetype count_type;
  if (napi_typeof(env, argv[2], &count_type) != napi_ok) return NULL;
  if (count_type != napi_number || napi_get_value_uint32(env, argv[2], &count) != napi_ok ||
      count > start_count) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sealRecords: count exceeds the starts given");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    if (!record_fits(target, length, starts[i])) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sealRecords: a record runs past its target");
      return NULL;
    }
  }
  uint32_t i = 0;
#if defined(__x86_64__)
  if (hardware) {
    for (; i + 3 <= count; i += 3) {
      size_t size[3];
      const uint8_t *at[3];
      for (int k = 0; k < 3; k++) {
        size[k] = covered_at(target, starts[i + k]);
        at[k] = target + starts[i + k];
      }
      size_t common = size[0] < size[1] ? size[0] : size[1];
      common = (common < size[2] ? common : size[2]) & ~(size_t)7;
      uint32_t crc[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
      update_hardware3(crc, at[0], at[1], at[2], common);
      for (int k = 0; k < 3; k++) {
        crc[k] = update_hardware(crc[k], at[k] + common, size[k] - common);
        store_checksum(target + starts[i + k], crc[k]);
      }
    }
  }
#endif
  for (; i < count; i++) {
    const uint8_t *at = target + starts[i];
    store_checksum(target + starts[i], update(0xffffffffu, at, covered_at(target, starts[i])));
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  build_table();
#if defined(__x86_64__)
  __builtin_cpu_init();
  hardware = __builtin_cpu_supports("sse4.2");
#endif
  /* SPOOL_CRC32C_TABLE=1 takes the table on any CPU, so the tests check both paths here. */
  const char *table_only = getenv("SPOOL_CRC32C_TABLE");
  if (table_only != NULL && strcmp(table_only, "1") == 0) hardware = 0;
  napi_value function, flag;
  if (napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, crc32c, NULL, &function) != napi_ok ||
      napi_set_named_property(env, exports, "crc32c", function) != napi_ok ||
      napi_create_function(env, "sealRecords", NAPI_AUTO_LENGTH, seal_records, NULL, &function) !=
          napi_ok ||
      napi_set_named_property(env, exports, "sealRecords", function) != napi_ok ||
      napi_get_boolean(env, hardware != 0, &flag) != napi_ok ||
      napi_set_named_property(env, exports, "hardware", flag) != napi_ok) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

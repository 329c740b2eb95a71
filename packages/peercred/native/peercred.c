/*
 * The kernel credentials of the process at the other end of a Unix-domain socket (Linux).
 *
 * Plain C against node_api.h only: Node-API is ABI-stable, so the binary built at install time
 * keeps loading across Node versions without a C++ wrapper library.
 */

/* glibc declares struct ucred in <sys/socket.h> only under _GNU_SOURCE (unix(7)). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <node_api.h>

/*
 * The errno names of every error getsockopt(2) documents, plus EAFNOSUPPORT, which
 * peer_credentials raises itself. Anything else is "UNKNOWN", as libuv names an errno it does
 * not know; the message still carries strerror's text.
 */
static const char *errno_code(int error) {
  switch (error) {
  case EBADF:
    return "EBADF";
  case EFAULT:
    return "EFAULT";
  case EINVAL:
    return "EINVAL";
  case ENOPROTOOPT:
    return "ENOPROTOOPT";
  case ENOTSOCK:
    return "ENOTSOCK";
  case EAFNOSUPPORT:
    return "EAFNOSUPPORT";
  default:
    return "UNKNOWN";
  }
}

/*
 * Throws an Error shaped like Node's own system errors (code, negative errno, syscall), so
 * callers handle it as they handle an error from node:net or node:fs.
 */
static void throw_system_error(napi_env env, const char *syscall, int error, const char *detail) {
  const char *code = errno_code(error);
  char text[256];
  snprintf(text, sizeof text, "%s %s: %s", syscall, code, detail);

  napi_value code_value, message_value, error_value, errno_value, syscall_value;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message_value) != napi_ok ||
      napi_create_error(env, code_value, message_value, &error_value) != napi_ok ||
      napi_create_int32(env, -error, &errno_value) != napi_ok ||
      napi_set_named_property(env, error_value, "errno", errno_value) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value) != napi_ok ||
      napi_set_named_property(env, error_value, "syscall", syscall_value) != napi_ok) {
    /* Building the rich error failed (an exception is likely pending already): keep the text. */
    napi_throw_error(env, code, text);
    return;
  }
  napi_throw(env, error_value);
}

/* Reads the descriptor argument; throws a TypeError and returns -1 when it is not an int32. */
static int descriptor_argument(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type;
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_typeof(env, argv[0], &type) != napi_ok || type != napi_number ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "peerCredentials expects one non-negative file descriptor");
    return -1;
  }
  return fd;
}

/*
 * SO_PEERCRED does not fail on a socket of another family: on TCP, Linux answers pid 0 and uid
 * and gid (uid_t)-1, 4294967295, because the socket has no peer credentials (cred_to_ucred in
 * net/core/sock.c; measured here on a loopback connection). Checking SO_DOMAIN first turns that
 * silent non-answer into an error.
 */
static int is_unix_socket(napi_env env, int fd) {
  int domain = 0;
  socklen_t length = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0) {
    throw_system_error(env, "getsockopt", errno, strerror(errno));
    return 0;
  }
  if (domain != AF_UNIX) {
    throw_system_error(env, "getsockopt", EAFNOSUPPORT,
                       "SO_PEERCRED needs a Unix-domain socket, and this is not one");
    return 0;
  }
  return 1;
}

/* Sets one number property; returns 0 when Node-API failed (an exception is pending). */
static int set_number(napi_env env, napi_value object, const char *name, double number) {
  napi_value value;
  return napi_create_double(env, number, &value) == napi_ok &&
         napi_set_named_property(env, object, name, value) == napi_ok;
}

/* peerCredentials(fd): { pid, uid, gid } of the peer of a connected Unix-domain socket. */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  int fd = descriptor_argument(env, info);
  if (fd < 0 || !is_unix_socket(env, fd)) return NULL;

  struct ucred credentials;
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    throw_system_error(env, "getsockopt", errno, strerror(errno));
    return NULL;
  }
  if (length != sizeof credentials) {
    throw_system_error(env, "getsockopt", EINVAL, "SO_PEERCRED returned a short struct ucred");
    return NULL;
  }

  /* Doubles hold every pid_t, uid_t and gid_t exactly (all at most 32 bits). */
  napi_value result;
  if (napi_create_object(env, &result) != napi_ok ||
      !set_number(env, result, "pid", credentials.pid) ||
      !set_number(env, result, "uid", credentials.uid) ||
      !set_number(env, result, "gid", credentials.gid)) {
    return NULL;
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_value function;
  if (napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL,
                           &function) != napi_ok ||
      napi_set_named_property(env, exports, "peerCredentials", function) != napi_ok) {
    return NULL;
  }
  return exports;
}

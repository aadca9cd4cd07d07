/* npy.c: NumPy .npy files, the stage dump format.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Format version 1.0: the magic "\x93NUMPY", version bytes 1 0, a 2-byte
 * little-endian header length, a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (a, b), } padded with
 * spaces and a newline so that the data starts at a multiple of 64 bytes,
 * then the data in C order. Only what the dumps and --queries need is
 * supported: little-endian float32 and int32, C order, at most 8 dims.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "naclip-private.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6

gboolean
naclip_npy_write (const char *path, const gsize *shape, guint n_dims,
    gboolean is_int32, const void *data, GError **error)
{
  g_autoptr (GString) header = g_string_new (NULL);
  g_autofree char *contents = NULL;
  gsize n_elements = 1;
  gsize n_bytes, total, pad;
  guint16 header_len;
  GError *local = NULL;

  g_return_val_if_fail (path != NULL && n_dims <= NACLIP_NPY_MAX_DIMS, FALSE);
  g_return_val_if_fail (data != NULL || n_dims > 0, FALSE);

  g_string_append_printf (header,
      "{'descr': '%s', 'fortran_order': False, "
      "'shape': (",
      is_int32 ? "<i4" : "<f4");
  for (guint i = 0; i < n_dims; i++) {
    g_string_append_printf (header, "%" G_GSIZE_FORMAT "%s", shape[i],
        n_dims == 1 ? "," : (i + 1 < n_dims ? ", " : ""));
    if (!g_size_checked_mul (&n_elements, n_elements, shape[i])) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "%s: array size overflows", path);
      return FALSE;
    }
  }
  g_string_append (header, "), }");
  /* Pad so that magic + version + length + header is a multiple of 64. */
  pad = 64 - (NPY_MAGIC_LEN + 2 + 2 + header->len + 1) % 64;
  if (pad == 64)
    pad = 0;
  for (gsize i = 0; i < pad; i++)
    g_string_append_c (header, ' ');
  g_string_append_c (header, '\n');
  header_len = (guint16)header->len;

  if (!g_size_checked_mul (&n_bytes, n_elements, 4)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s: array size overflows", path);
    return FALSE;
  }
  total = NPY_MAGIC_LEN + 4 + header->len + n_bytes;
  contents = g_try_malloc (total);
  if (contents == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "%s: cannot allocate %" G_GSIZE_FORMAT " bytes", path, total);
    return FALSE;
  }
  memcpy (contents, NPY_MAGIC, NPY_MAGIC_LEN);
  contents[6] = 1;
  contents[7] = 0;
  contents[8] = (char)(header_len & 0xff);
  contents[9] = (char)(header_len >> 8);
  memcpy (contents + 10, header->str, header->len);
  /* float32 and int32 are little-endian on every platform we build for. */
  G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  if (n_bytes > 0)
    memcpy (contents + 10 + header->len, data, n_bytes);
  if (!g_file_set_contents (path, contents, (gssize)total, &local)) {
    g_set_error_literal (error, NACLIP_ERROR, NACLIP_ERROR_IO, local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}

/* Parses "(a, b, c)" after 'shape': into @shape; returns FALSE on syntax. */
static gboolean
parse_shape (const char *p, gsize *shape, guint *n_dims)
{
  guint n = 0;
  while (*p == ' ')
    p++;
  if (*p++ != '(')
    return FALSE;
  for (;;) {
    char *end = NULL;
    guint64 v;
    while (*p == ' ')
      p++;
    if (*p == ')')
      break;
    if (!g_ascii_isdigit (*p) || n == NACLIP_NPY_MAX_DIMS)
      return FALSE;
    errno = 0;
    v = g_ascii_strtoull (p, &end, 10);
    if (errno != 0 || end == p || v > G_MAXSIZE)
      return FALSE;
    shape[n++] = (gsize)v;
    p = end;
    while (*p == ' ')
      p++;
    if (*p == ',')
      p++;
    else if (*p != ')')
      return FALSE;
  }
  *n_dims = n;
  return TRUE;
}

float *
naclip_npy_read_f32 (
    const char *path, gsize *shape, guint *n_dims, GError **error)
{
  g_autofree char *contents = NULL;
  g_autofree char *header = NULL;
  gsize length = 0, header_len, n_elements = 1, n_bytes;
  const char *descr, *shape_at;
  float *out = NULL;
  GError *local = NULL;

  g_return_val_if_fail (path != NULL && shape != NULL && n_dims != NULL, NULL);

  if (!g_file_get_contents (path, &contents, &length, &local)) {
    g_set_error_literal (error, NACLIP_ERROR, NACLIP_ERROR_IO, local->message);
    g_error_free (local);
    return NULL;
  }
  if (length < 10 || memcmp (contents, NPY_MAGIC, NPY_MAGIC_LEN) != 0
      || contents[6] != 1) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: not a version 1.0 .npy file", path);
    return NULL;
  }
  header_len = (guint8)contents[8] | ((gsize)(guint8)contents[9] << 8);
  if (header_len > length - 10) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: header length %" G_GSIZE_FORMAT " exceeds the file", path,
        header_len);
    return NULL;
  }
  header = g_strndup (contents + 10, header_len);
  descr = strstr (header, "'descr':");
  shape_at = strstr (header, "'shape':");
  if (descr == NULL || shape_at == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: header lacks 'descr' or 'shape'", path);
    return NULL;
  }
  descr += strlen ("'descr':");
  while (*descr == ' ')
    descr++;
  if (!g_str_has_prefix (descr, "'<f4'")) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: dtype is not little-endian float32 ('<f4')", path);
    return NULL;
  }
  if (strstr (header, "'fortran_order': False") == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: only C-order arrays are supported", path);
    return NULL;
  }
  if (!parse_shape (shape_at + 8, shape, n_dims)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: cannot parse the shape (at most %d dims)", path,
        NACLIP_NPY_MAX_DIMS);
    return NULL;
  }
  for (guint i = 0; i < *n_dims; i++) {
    if (!g_size_checked_mul (&n_elements, n_elements, shape[i])) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: shape overflows", path);
      return NULL;
    }
  }
  if (!g_size_checked_mul (&n_bytes, n_elements, sizeof (float))
      || n_bytes != length - 10 - header_len) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: data is %" G_GSIZE_FORMAT
        " bytes, the shape needs %" G_GSIZE_FORMAT,
        path, length - 10 - header_len, n_elements * 4);
    return NULL;
  }
  out = g_try_malloc (MAX (n_bytes, 1));
  if (out == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "%s: cannot allocate %" G_GSIZE_FORMAT " bytes", path, n_bytes);
    return NULL;
  }
  memcpy (out, contents + 10 + header_len, n_bytes);
  return out;
}

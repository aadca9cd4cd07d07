/* label-png.c: reading and writing label maps as PNG files.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A small PNG codec limited to what label maps use (PNG specification,
 * ISO/IEC 15948, sections 5-11): single-channel images, colour type 0
 * (grey) or 3 (palette), no interlacing. Reading keeps palette indices as
 * they are, which is what mmseg's LoadAnnotations does (Pillow, "unchanged")
 * and what GStreamer's pngdec cannot do (it expands palettes to RGB).
 * zlib streams go through GIO's GZlibDecompressor / GZlibCompressor, so
 * the tool needs no libpng.
 */

#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "label-png.h"

static const guint8 png_signature[8]
    = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

/* CRC-32 of the PNG specification (polynomial 0xedb88320, reflected). */
static guint32 crc_table[256];

static gpointer
build_crc_table (gpointer unused)
{
  (void)unused;
  for (guint32 n = 0; n < 256; n++) {
    guint32 c = n;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
  return NULL;
}

static guint32
update_crc (guint32 crc, const guint8 *buf, gsize len)
{
  static GOnce once = G_ONCE_INIT;

  g_once (&once, build_crc_table, NULL);
  for (gsize i = 0; i < len; i++)
    crc = crc_table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8)
         | (guint32)p[3];
}

static void
write_be32 (guint8 *p, guint32 v)
{
  p[0] = (guint8)(v >> 24);
  p[1] = (guint8)(v >> 16);
  p[2] = (guint8)(v >> 8);
  p[3] = (guint8)v;
}

/* Inflates the zlib stream @in into exactly @out_len bytes of @out (which
 * has room for @out_len + 1, to detect surplus data). */
static gboolean
inflate_exact (const guint8 *in, gsize in_len, guint8 *out, gsize out_len,
    const char *path, GError **error)
{
  GZlibDecompressor *z
      = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB);
  gsize in_pos = 0, out_pos = 0;
  gboolean ok = FALSE;
  GError *local = NULL;

  for (;;) {
    gsize n_read = 0, n_written = 0;
    GConverterResult r = g_converter_convert (G_CONVERTER (z), in + in_pos,
        in_len - in_pos, out + out_pos, out_len + 1 - out_pos,
        G_CONVERTER_INPUT_AT_END, &n_read, &n_written, &local);
    if (r == G_CONVERTER_ERROR) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: corrupt image data (zlib: %s)", path, local->message);
      goto out;
    }
    in_pos += n_read;
    out_pos += n_written;
    if (out_pos > out_len) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: more image data than the %" G_GSIZE_FORMAT
          " bytes the header announces",
          path, out_len);
      goto out;
    }
    if (r == G_CONVERTER_FINISHED)
      break;
    if (n_read == 0 && n_written == 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: image data ends early (zlib stream not finished)", path);
      goto out;
    }
  }
  if (out_pos != out_len) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: image data holds %" G_GSIZE_FORMAT
        " bytes, expected %" G_GSIZE_FORMAT,
        path, out_pos, out_len);
    goto out;
  }
  ok = TRUE;
out:
  g_clear_error (&local);
  g_object_unref (z);
  return ok;
}

static guint8
paeth (guint8 a, guint8 b, guint8 c)
{
  int p = (int)a + (int)b - (int)c;
  int pa = ABS (p - (int)a), pb = ABS (p - (int)b), pc = ABS (p - (int)c);

  if (pa <= pb && pa <= pc)
    return a;
  return pb <= pc ? b : c;
}

/* Undoes the per-row filters in place: @raw holds @height rows of
 * 1 + @row_bytes bytes (filter type first); @bpp is the byte distance of
 * "the pixel to the left" (at least 1). */
static gboolean
unfilter (guint8 *raw, guint height, gsize row_bytes, guint bpp,
    const char *path, GError **error)
{
  const guint8 *prev = NULL;

  for (guint y = 0; y < height; y++) {
    guint8 *row = raw + (gsize)y * (row_bytes + 1);
    guint8 type = row[0];
    guint8 *x = row + 1;

    for (gsize i = 0; i < row_bytes; i++) {
      guint8 a = i >= bpp ? x[i - bpp] : 0;
      guint8 b = prev != NULL ? prev[i] : 0;
      guint8 c = (prev != NULL && i >= bpp) ? prev[i - bpp] : 0;
      switch (type) {
        case 0:
          break;
        case 1:
          x[i] = (guint8)(x[i] + a);
          break;
        case 2:
          x[i] = (guint8)(x[i] + b);
          break;
        case 3:
          x[i] = (guint8)(x[i] + (guint8)(((guint)a + (guint)b) / 2));
          break;
        case 4:
          x[i] = (guint8)(x[i] + paeth (a, b, c));
          break;
        default:
          g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
              "%s: row %u has filter type %u (expected 0..4)", path, y, type);
          return FALSE;
      }
    }
    prev = x;
  }
  return TRUE;
}

guint8 *
naclip_label_png_read (
    const char *path, guint *width, guint *height, GError **error)
{
  g_autoptr (GMappedFile) file = NULL;
  GByteArray *idat = NULL;
  guint8 *raw = NULL;
  guint8 *labels = NULL;
  const guint8 *p;
  gsize size, pos;
  guint32 w = 0, h = 0;
  guint depth = 0, color = 0;
  gboolean have_header = FALSE, have_end = FALSE;
  gsize row_bytes, raw_size;
  GError *local = NULL;

  g_return_val_if_fail (path != NULL && width != NULL && height != NULL, NULL);

  file = g_mapped_file_new (path, FALSE, &local);
  if (file == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s", local->message);
    g_error_free (local);
    return NULL;
  }
  p = (const guint8 *)g_mapped_file_get_contents (file);
  size = g_mapped_file_get_length (file);
  if (size < 8 || memcmp (p, png_signature, 8) != 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: not a PNG file (bad signature)", path);
    return NULL;
  }

  idat = g_byte_array_new ();
  pos = 8;
  while (!have_end) {
    guint32 len, crc;
    const guint8 *type, *data;

    if (size - pos < 12) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: truncated (no IEND chunk)", path);
      goto out;
    }
    len = read_be32 (p + pos);
    type = p + pos + 4;
    if (len > 0x7fffffffu || len > size - pos - 12) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: truncated: chunk '%.4s' at byte %" G_GSIZE_FORMAT
          " has length %u, beyond the end of the file",
          path, (const char *)type, pos, len);
      goto out;
    }
    data = type + 4;
    crc = update_crc (0xffffffffu, type, (gsize)len + 4) ^ 0xffffffffu;
    if (crc != read_be32 (data + len)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: CRC mismatch in chunk '%.4s' at byte %" G_GSIZE_FORMAT, path,
          (const char *)type, pos);
      goto out;
    }
    if (!have_header && memcmp (type, "IHDR", 4) != 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: first chunk is '%.4s', expected IHDR", path, (const char *)type);
      goto out;
    }
    if (memcmp (type, "IHDR", 4) == 0) {
      if (have_header || len != 13) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
            "%s: bad IHDR chunk", path);
        goto out;
      }
      have_header = TRUE;
      w = read_be32 (data);
      h = read_be32 (data + 4);
      depth = data[8];
      color = data[9];
      if (w == 0 || h == 0 || w > NACLIP_LABEL_PNG_MAX_SIDE
          || h > NACLIP_LABEL_PNG_MAX_SIDE) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
            "%s: size %ux%u is out of range (1..%u per side)", path, w, h,
            NACLIP_LABEL_PNG_MAX_SIDE);
        goto out;
      }
      if (color != 0 && color != 3) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
            "%s: colour type %u is not a label map (expected 0 = grey or "
            "3 = palette)",
            path, color);
        goto out;
      }
      if (!(depth == 1 || depth == 2 || depth == 4 || depth == 8
              || (depth == 16 && color == 0))) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
            "%s: bit depth %u is invalid for colour type %u", path, depth,
            color);
        goto out;
      }
      if (data[10] != 0 || data[11] != 0) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
            "%s: unknown compression or filter method", path);
        goto out;
      }
      if (data[12] != 0) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
            "%s: interlaced PNGs are not supported for label maps", path);
        goto out;
      }
    } else if (memcmp (type, "IDAT", 4) == 0) {
      if (len > G_MAXUINT - idat->len) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
            "%s: more than 4 GiB of image data", path);
        goto out;
      }
      g_byte_array_append (idat, data, len);
    } else if (memcmp (type, "IEND", 4) == 0) {
      have_end = TRUE;
    } else if (!(type[0] & 0x20)) {
      /* Critical chunks other than PLTE change how pixels are read. */
      if (memcmp (type, "PLTE", 4) != 0) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
            "%s: unknown critical chunk '%.4s'", path, (const char *)type);
        goto out;
      }
    }
    pos += (gsize)len + 12;
  }
  if (idat->len == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: no image data (IDAT)", path);
    goto out;
  }

  row_bytes = ((gsize)w * depth + 7) / 8;
  raw_size = (row_bytes + 1) * h;
  raw = g_try_malloc (raw_size + 1);
  labels = g_try_malloc ((gsize)w * h);
  if (raw == NULL || labels == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "%s: cannot allocate %" G_GSIZE_FORMAT " bytes for %ux%u pixels", path,
        raw_size, w, h);
    g_clear_pointer (&labels, g_free);
    goto out;
  }
  if (!inflate_exact (idat->data, idat->len, raw, raw_size, path, error)
      || !unfilter (raw, h, row_bytes, depth == 16 ? 2 : 1, path, error)) {
    g_clear_pointer (&labels, g_free);
    goto out;
  }

  for (guint y = 0; y < h; y++) {
    const guint8 *row = raw + (gsize)y * (row_bytes + 1) + 1;
    guint8 *dst = labels + (gsize)y * w;
    if (depth == 8) {
      memcpy (dst, row, w);
    } else if (depth == 16) {
      for (guint x = 0; x < w; x++)
        dst[x] = row[2 * x + 1]; /* big-endian: the low byte is second */
    } else {
      guint per_byte = 8 / depth, mask = (1u << depth) - 1;
      for (guint x = 0; x < w; x++) {
        guint shift = 8 - depth * (x % per_byte + 1);
        dst[x] = (guint8)((row[x / per_byte] >> shift) & mask);
      }
    }
  }
  *width = w;
  *height = h;

out:
  g_free (raw);
  g_byte_array_unref (idat);
  return labels;
}

static void
append_chunk (GByteArray *png, const char *type, const guint8 *data, gsize len)
{
  guint8 be[4];
  guint32 crc;

  write_be32 (be, (guint32)len);
  g_byte_array_append (png, be, 4);
  g_byte_array_append (png, (const guint8 *)type, 4);
  if (len > 0)
    g_byte_array_append (png, data, (guint)len);
  crc = update_crc (0xffffffffu, (const guint8 *)type, 4);
  crc = update_crc (crc, data, len) ^ 0xffffffffu;
  write_be32 (be, crc);
  g_byte_array_append (png, be, 4);
}

gboolean
naclip_label_png_write (const char *path, const guint8 *labels, guint width,
    guint height, gsize stride, GError **error)
{
  GZlibCompressor *z = NULL;
  GByteArray *png = NULL;
  guint8 *raw = NULL, *packed = NULL;
  gsize raw_size, packed_cap, in_pos = 0, out_pos = 0;
  guint8 ihdr[13];
  gboolean ok = FALSE;
  GError *local = NULL;

  g_return_val_if_fail (path != NULL && labels != NULL, FALSE);
  g_return_val_if_fail (width > 0 && height > 0 && stride >= width, FALSE);

  raw_size = ((gsize)width + 1) * height;
  packed_cap = raw_size + raw_size / 100 + 1024;
  raw = g_try_malloc (raw_size);
  packed = g_try_malloc (packed_cap);
  if (raw == NULL || packed == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "%s: cannot allocate %" G_GSIZE_FORMAT " bytes", path, raw_size);
    goto out;
  }
  for (guint y = 0; y < height; y++) {
    raw[(gsize)y * (width + 1)] = 0; /* filter type None */
    memcpy (
        raw + (gsize)y * (width + 1) + 1, labels + (gsize)y * stride, width);
  }

  z = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB, -1);
  for (;;) {
    gsize n_read = 0, n_written = 0;
    GConverterResult r = g_converter_convert (G_CONVERTER (z), raw + in_pos,
        raw_size - in_pos, packed + out_pos, packed_cap - out_pos,
        G_CONVERTER_INPUT_AT_END, &n_read, &n_written, &local);
    if (r == G_CONVERTER_ERROR) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: compression failed: %s", path, local->message);
      goto out;
    }
    in_pos += n_read;
    out_pos += n_written;
    if (r == G_CONVERTER_FINISHED)
      break;
  }

  write_be32 (ihdr, width);
  write_be32 (ihdr + 4, height);
  ihdr[8] = 8;  /* bit depth */
  ihdr[9] = 0;  /* grey */
  ihdr[10] = 0; /* deflate */
  ihdr[11] = 0; /* adaptive filtering */
  ihdr[12] = 0; /* not interlaced */
  png = g_byte_array_new ();
  g_byte_array_append (png, png_signature, 8);
  append_chunk (png, "IHDR", ihdr, sizeof ihdr);
  append_chunk (png, "IDAT", packed, out_pos);
  append_chunk (png, "IEND", NULL, 0);

  if (!g_file_set_contents (path, (const char *)png->data, png->len, &local)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s", local->message);
    goto out;
  }
  ok = TRUE;
out:
  g_clear_error (&local);
  g_clear_object (&z);
  if (png != NULL)
    g_byte_array_unref (png);
  g_free (raw);
  g_free (packed);
  return ok;
}

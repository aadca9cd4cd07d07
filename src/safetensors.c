/* safetensors.c: the safetensors container, parsed as untrusted input.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Format (huggingface/safetensors, docs "format"): an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON
 *   { "name": { "dtype": "F32", "shape": [a, b], "data_offsets": [begin,
 *     end] }, ..., "__metadata__": { "key": "string", ... } }
 * then the data area; offsets are relative to its start. This parser is
 * stricter than the reference one (bad-input rows A, tests/bad-inputs/README.md): the
 * JSON must pass naclip_json_check_strict () (no duplicate keys, depth and
 * member caps) before json-glib sees it, unknown fields in a tensor entry
 * are errors, integers must be exact (no fraction or exponent, at most
 * 2^53 - 1), and the tensors must tile the data area exactly: no overlap,
 * no hole, no trailing bytes. Sizes are computed with overflow checks, and
 * nothing is allocated in proportion to a size read from the file before
 * that size has been bounded by the file's own length.
 *
 * The parser does not copy tensor data: NaclipTensor.data points into the
 * caller's buffer (a read-only mapping in model.c), which is why it makes
 * no alignment promise (a header length that is not a multiple of 8 leaves
 * F32 data misaligned; model.c copies such tensors).
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "naclip-private.h"

/* Largest integer a JSON number can carry exactly through a double. */
#define MAX_JSON_INTEGER ((G_GUINT64_CONSTANT (1) << 53) - 1)

typedef struct
{
  const char *name;
  NaclipStDtype dtype;
  guint bits; /* per element */
} DtypeInfo;

/* Every dtype safetensors defines (safetensors/src/tensor.rs, Dtype). */
static const DtypeInfo dtypes[] = {
  { "F64", NACLIP_ST_F64, 64 },
  { "F32", NACLIP_ST_F32, 32 },
  { "F16", NACLIP_ST_F16, 16 },
  { "BF16", NACLIP_ST_BF16, 16 },
  { "I64", NACLIP_ST_I64, 64 },
  { "I32", NACLIP_ST_I32, 32 },
  { "I16", NACLIP_ST_I16, 16 },
  { "I8", NACLIP_ST_I8, 8 },
  { "U64", NACLIP_ST_U64, 64 },
  { "U32", NACLIP_ST_U32, 32 },
  { "U16", NACLIP_ST_U16, 16 },
  { "U8", NACLIP_ST_U8, 8 },
  { "BOOL", NACLIP_ST_BOOL, 8 },
  { "F8_E4M3", NACLIP_ST_F8_E4M3, 8 },
  { "F8_E5M2", NACLIP_ST_F8_E5M2, 8 },
  { "F8_E8M0", NACLIP_ST_OTHER, 8 },
  { "C64", NACLIP_ST_OTHER, 64 },
  { "F6_E2M3", NACLIP_ST_OTHER, 6 },
  { "F6_E3M2", NACLIP_ST_OTHER, 6 },
  { "F4", NACLIP_ST_OTHER, 4 },
};

static const DtypeInfo *
find_dtype (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++) {
    if (strcmp (dtypes[i].name, name) == 0)
      return &dtypes[i];
  }
  return NULL;
}

/* Reads an exact non-negative integer of at most 2^53 - 1 from @node.
 * @field names it in the message ("shape[1]"). */
static gboolean
get_integer (JsonNode *node, const char *filename, const char *tensor,
    const char *field, guint64 *out, GError **error)
{
  gint64 v;

  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': %s is not an integer (no fraction or exponent "
        "allowed)",
        filename, tensor, field);
    return FALSE;
  }
  v = json_node_get_int (node);
  if (v < 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': %s is negative (%" G_GINT64_FORMAT ")", filename,
        tensor, field, v);
    return FALSE;
  }
  if ((guint64)v > MAX_JSON_INTEGER) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': %s %" G_GINT64_FORMAT
        " is larger than 2^53-1, the largest exact JSON integer",
        filename, tensor, field, v);
    return FALSE;
  }
  *out = (guint64)v;
  return TRUE;
}

char *
naclip_safetensors_format_shape (const guint64 *dims, guint n_dims)
{
  GString *s = g_string_new ("[");
  for (guint i = 0; i < n_dims; i++)
    g_string_append_printf (
        s, "%s%" G_GUINT64_FORMAT, i > 0 ? ", " : "", dims[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Fills @t from the entry object @entry of tensor @name. */
static gboolean
parse_entry (NaclipTensor *t, const char *name, JsonNode *entry_node,
    const char *filename, gsize data_size, GError **error)
{
  JsonObject *entry;
  JsonNode *dtype_node, *shape_node, *offsets_node;
  JsonArray *shape, *offsets;
  const DtypeInfo *info;
  const char *dtype_name;
  g_autoptr (GList) members = NULL;
  guint64 n_bits, n_bytes, begin, end;

  if (!JSON_NODE_HOLDS_OBJECT (entry_node)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': entry is not a JSON object", filename, name);
    return FALSE;
  }
  entry = json_node_get_object (entry_node);
  members = json_object_get_members (entry);
  for (GList *l = members; l != NULL; l = l->next) {
    const char *field = l->data;
    if (strcmp (field, "dtype") != 0 && strcmp (field, "shape") != 0
        && strcmp (field, "data_offsets") != 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: tensor '%s': unknown field '%s' (only dtype, shape and "
          "data_offsets are allowed)",
          filename, name, field);
      return FALSE;
    }
  }

  dtype_node = json_object_get_member (entry, "dtype");
  shape_node = json_object_get_member (entry, "shape");
  offsets_node = json_object_get_member (entry, "data_offsets");
  if (dtype_node == NULL || shape_node == NULL || offsets_node == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': entry lacks the field '%s'", filename, name,
        dtype_node == NULL ? "dtype"
                           : (shape_node == NULL ? "shape" : "data_offsets"));
    return FALSE;
  }

  if (!JSON_NODE_HOLDS_VALUE (dtype_node)
      || json_node_get_value_type (dtype_node) != G_TYPE_STRING) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': dtype is not a string", filename, name);
    return FALSE;
  }
  dtype_name = json_node_get_string (dtype_node);
  info = find_dtype (dtype_name);
  if (info == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': unknown dtype '%s'", filename, name, dtype_name);
    return FALSE;
  }
  t->dtype = info->dtype;
  t->dtype_name = info->name;

  if (!JSON_NODE_HOLDS_ARRAY (shape_node)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': shape is not an array", filename, name);
    return FALSE;
  }
  shape = json_node_get_array (shape_node);
  if (json_array_get_length (shape) > NACLIP_SAFETENSORS_MAX_RANK) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': rank %u is above the limit of %d", filename, name,
        json_array_get_length (shape), NACLIP_SAFETENSORS_MAX_RANK);
    return FALSE;
  }
  t->n_dims = 0;
  t->n_elements = 1;
  for (guint i = 0; i < json_array_get_length (shape); i++) {
    char field[32];
    g_snprintf (field, sizeof field, "shape[%u]", i);
    if (!get_integer (json_array_get_element (shape, i), filename, name, field,
            &t->shape[i], error))
      return FALSE;
    t->n_dims = i + 1;
    if (!g_uint64_checked_mul (&t->n_elements, t->n_elements, t->shape[i])) {
      g_autofree char *s
          = naclip_safetensors_format_shape (t->shape, t->n_dims);
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: tensor '%s': the element count of shape %s overflows 64 bits",
          filename, name, s);
      return FALSE;
    }
  }
  if (!g_uint64_checked_mul (&n_bits, t->n_elements, info->bits)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': the byte size of %" G_GUINT64_FORMAT
        " elements of %s overflows 64 bits",
        filename, name, t->n_elements, info->name);
    return FALSE;
  }
  if (n_bits % 8 != 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': %" G_GUINT64_FORMAT
        " elements of %s do not fill whole bytes (misaligned)",
        filename, name, t->n_elements, info->name);
    return FALSE;
  }
  n_bytes = n_bits / 8;

  if (!JSON_NODE_HOLDS_ARRAY (offsets_node)
      || json_array_get_length (json_node_get_array (offsets_node)) != 2) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': data_offsets is not an array of two integers",
        filename, name);
    return FALSE;
  }
  offsets = json_node_get_array (offsets_node);
  if (!get_integer (json_array_get_element (offsets, 0), filename, name,
          "data_offsets[0]", &begin, error)
      || !get_integer (json_array_get_element (offsets, 1), filename, name,
          "data_offsets[1]", &end, error))
    return FALSE;
  if (end < begin) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': data_offsets [%" G_GUINT64_FORMAT
        ", %" G_GUINT64_FORMAT "] end before begin",
        filename, name, begin, end);
    return FALSE;
  }
  if (end > data_size) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': data_offsets end %" G_GUINT64_FORMAT
        " is beyond the data area of %" G_GSIZE_FORMAT
        " bytes (file truncated?)",
        filename, name, end, data_size);
    return FALSE;
  }
  if (end - begin != n_bytes) {
    g_autofree char *s = naclip_safetensors_format_shape (t->shape, t->n_dims);
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: tensor '%s': size mismatch: data_offsets span %" G_GUINT64_FORMAT
        " bytes but shape %s of %s needs %" G_GUINT64_FORMAT,
        filename, name, end - begin, s, info->name, n_bytes);
    return FALSE;
  }
  t->begin = begin;
  t->end = end;
  return TRUE;
}

static int
compare_offsets (const void *a, const void *b)
{
  const NaclipTensor *ta = a, *tb = b;

  if (ta->begin != tb->begin)
    return ta->begin < tb->begin ? -1 : 1;
  if (ta->end != tb->end)
    return ta->end < tb->end ? -1 : 1;
  return strcmp (ta->name, tb->name);
}

static gboolean
parse_metadata (
    NaclipSafetensors *st, JsonNode *node, const char *filename, GError **error)
{
  JsonObject *obj;
  g_autoptr (GList) members = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: __metadata__ is not a JSON object", filename);
    return FALSE;
  }
  obj = json_node_get_object (node);
  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next) {
    JsonNode *v = json_object_get_member (obj, l->data);
    if (!JSON_NODE_HOLDS_VALUE (v)
        || json_node_get_value_type (v) != G_TYPE_STRING) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: __metadata__ value of '%s' is not a string", filename,
          (const char *)l->data);
      return FALSE;
    }
    g_hash_table_insert (
        st->metadata, g_strdup (l->data), g_strdup (json_node_get_string (v)));
  }
  return TRUE;
}

/* Checks that the sorted tensors tile [0, data_size) exactly. */
static gboolean
check_tiling (const NaclipSafetensors *st, const char *filename, GError **error)
{
  gsize expected = 0;
  const NaclipTensor *prev = NULL;

  for (guint i = 0; i < st->n_tensors; i++) {
    const NaclipTensor *t = &st->tensors[i];
    if (t->begin < expected) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: tensor '%s' [%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT
          ") overlaps tensor '%s' [%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT ")",
          filename, t->name, t->begin, t->end, prev->name, prev->begin,
          prev->end);
      return FALSE;
    }
    if (t->begin > expected) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: hole of %" G_GSIZE_FORMAT " unused bytes in the data area "
          "before tensor '%s' (at %" G_GSIZE_FORMAT ")",
          filename, t->begin - expected, t->name, expected);
      return FALSE;
    }
    expected = t->end;
    prev = t;
  }
  if (expected != st->data_size) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: %" G_GSIZE_FORMAT " trailing bytes after the last tensor "
        "(data area %" G_GSIZE_FORMAT " bytes, tensors end at %" G_GSIZE_FORMAT
        ")",
        filename, st->data_size - expected, st->data_size, expected);
    return FALSE;
  }
  return TRUE;
}

NaclipSafetensors *
naclip_safetensors_parse (
    const guint8 *bytes, gsize size, const char *filename, GError **error)
{
  NaclipSafetensors *st = NULL;
  JsonParser *parser = NULL;
  JsonObject *root;
  GList *members = NULL;
  const char *header;
  guint64 header_len = 0;
  guint n_entries;
  GError *local_error = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (bytes != NULL || size == 0, NULL);
  g_return_val_if_fail (filename != NULL, NULL);

  if (size < 8) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: header too small: the file has %" G_GSIZE_FORMAT
        " bytes, fewer than the 8 of the header length",
        filename, size);
    goto out;
  }
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | bytes[i];
  if (header_len > NACLIP_SAFETENSORS_MAX_HEADER) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: header too large: length %" G_GUINT64_FORMAT
        " is above the limit of %u bytes",
        filename, header_len, NACLIP_SAFETENSORS_MAX_HEADER);
    goto out;
  }
  if (header_len > size - 8) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: header length %" G_GUINT64_FORMAT " exceeds the %" G_GSIZE_FORMAT
        " bytes that follow it",
        filename, header_len, size - 8);
    goto out;
  }
  header = (const char *)bytes + 8;
  if (!naclip_json_check_strict (header, header_len,
          NACLIP_SAFETENSORS_MAX_TENSORS + 1, filename, error))
    goto out;

  parser = json_parser_new ();
  if (!json_parser_load_from_data (
          parser, header, (gssize)header_len, &local_error)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: header is not valid JSON: %s", filename, local_error->message);
    goto out;
  }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: header is not a JSON object", filename);
    goto out;
  }
  root = json_node_get_object (json_parser_get_root (parser));

  st = g_new0 (NaclipSafetensors, 1);
  st->data = bytes + 8 + header_len;
  st->data_size = size - 8 - header_len;
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  n_entries = json_object_get_size (root);
  if (json_object_has_member (root, "__metadata__")) {
    if (!parse_metadata (
            st, json_object_get_member (root, "__metadata__"), filename, error))
      goto out;
    n_entries--;
  }
  if (n_entries > NACLIP_SAFETENSORS_MAX_TENSORS) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: %u tensors, above the limit of %d", filename, n_entries,
        NACLIP_SAFETENSORS_MAX_TENSORS);
    goto out;
  }
  st->tensors = g_new0 (NaclipTensor, MAX (n_entries, 1));
  members = json_object_get_members (root);
  for (GList *l = members; l != NULL; l = l->next) {
    const char *name = l->data;
    NaclipTensor *t;

    if (strcmp (name, "__metadata__") == 0)
      continue;
    t = &st->tensors[st->n_tensors++];
    t->name = g_strdup (name);
    if (!parse_entry (t, name, json_object_get_member (root, name), filename,
            st->data_size, error))
      goto out;
  }

  qsort (st->tensors, st->n_tensors, sizeof (NaclipTensor), compare_offsets);
  if (!check_tiling (st, filename, error))
    goto out;
  for (guint i = 0; i < st->n_tensors; i++) {
    NaclipTensor *t = &st->tensors[i];
    t->data = st->data + t->begin;
    g_hash_table_insert (st->by_name, t->name, t);
  }
  ok = TRUE;

out:
  g_list_free (members);
  g_clear_error (&local_error);
  g_clear_object (&parser);
  if (!ok) {
    naclip_safetensors_free (st);
    st = NULL;
  }
  return st;
}

void
naclip_safetensors_free (NaclipSafetensors *st)
{
  if (st == NULL)
    return;
  for (guint i = 0; i < st->n_tensors; i++)
    g_free (st->tensors[i].name);
  g_free (st->tensors);
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_free (st);
}

const NaclipTensor *
naclip_safetensors_find (const NaclipSafetensors *st, const char *name)
{
  g_return_val_if_fail (st != NULL && name != NULL, NULL);
  return g_hash_table_lookup (st->by_name, name);
}

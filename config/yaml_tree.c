/*
 * yaml_tree: libyaml events to a bounded tree, refusing what relayd's
 * configuration never needs (anchors, aliases, tags, several documents).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "yaml_tree.h"

struct ybuild {
	const char	*name;
	char		*err;
	size_t		 errsz;
	size_t		 nodes;
	int		 failed;
};

static void
yb_error(struct ybuild *b, int line, const char *reason)
{
	if (b->failed)
		return;
	b->failed = 1;
	snprintf(b->err, b->errsz, "%s:%d: %s", b->name, line, reason);
}

/* libyaml's own words, said to be about YAML, with where it began. */
static void
yb_syntax(struct ybuild *b, const yaml_parser_t *p)
{
	char	reason[256];
	int	line = (int)p->problem_mark.line + 1;
	int	cline = (int)p->context_mark.line + 1;

	if (p->problem == NULL)
		strlcpy(reason, "YAML syntax error", sizeof(reason));
	else if (p->context != NULL && cline != line)
		snprintf(reason, sizeof(reason), "YAML syntax error: %s (%s "
		    "on line %d)", p->problem, p->context, cline);
	else
		snprintf(reason, sizeof(reason), "YAML syntax error: %s",
		    p->problem);
	yb_error(b, line, reason);
}

static struct ynode *
yn_new(struct ybuild *b, enum ynode_type type, int line)
{
	struct ynode *n;

	if (++b->nodes > YTREE_MAX_NODES) {
		yb_error(b, line, "document too large");
		return NULL;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		yb_error(b, line, "out of memory");
		return NULL;
	}
	n->type = type;
	n->line = line;
	return n;
}

static int
yn_append(struct ybuild *b, struct ynode *parent, struct ynode *child)
{
	struct ynode **items;

	items = reallocarray(parent->items, parent->nitems + 1,
	    sizeof(*items));
	if (items == NULL) {
		yb_error(b, child->line, "out of memory");
		return -1;
	}
	parent->items = items;
	parent->items[parent->nitems++] = child;
	return 0;
}

void
ytree_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nitems; i++)
		ytree_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

static int
ev_line(const yaml_event_t *ev)
{
	return (int)ev->start_mark.line + 1;
}

/* Refuse anchors and explicit tags on any node event. */
static int
yb_check_props(struct ybuild *b, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;
	int implicit = 1;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		implicit = ev->data.scalar.plain_implicit ||
		    ev->data.scalar.quoted_implicit;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor != NULL) {
		yb_error(b, ev_line(ev), "YAML anchors are not allowed");
		return -1;
	}
	if (tag != NULL || !implicit) {
		yb_error(b, ev_line(ev), "YAML tags are not allowed");
		return -1;
	}
	return 0;
}

static int
yb_dup_key(struct ybuild *b, const struct ynode *map, const struct ynode *key)
{
	size_t i;
	char reason[160];

	for (i = 0; i + 1 < map->nitems; i += 2) {
		if (map->items[i]->vlen == key->vlen &&
		    memcmp(map->items[i]->value, key->value, key->vlen) == 0) {
			snprintf(reason, sizeof(reason),
			    "duplicate key \"%.64s\" (first on line %d)",
			    key->value, map->items[i]->line);
			yb_error(b, key->line, reason);
			return -1;
		}
	}
	return 0;
}

/* Build one node from the event stream; the first event is in *ev. */
static struct ynode *
yb_node(struct ybuild *b, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
	struct ynode	*n = NULL, *child;
	yaml_event_t	 next;
	yaml_event_type_t end;
	int		 line = ev_line(ev);

	if (ev->type == YAML_ALIAS_EVENT) {
		yb_error(b, line, "YAML aliases are not allowed");
		return NULL;
	}
	if (yb_check_props(b, ev) == -1)
		return NULL;
	if (depth > YTREE_MAX_DEPTH) {
		yb_error(b, line, "nesting too deep");
		return NULL;
	}
	if (ev->type == YAML_SCALAR_EVENT) {
		if ((n = yn_new(b, YN_SCALAR, line)) == NULL)
			return NULL;
		n->vlen = ev->data.scalar.length;
		if (memchr(ev->data.scalar.value, '\0', n->vlen) != NULL) {
			yb_error(b, line, "NUL byte in value");
			free(n);
			return NULL;
		}
		if ((n->value = strndup((char *)ev->data.scalar.value,
		    n->vlen)) == NULL) {
			yb_error(b, line, "out of memory");
			free(n);
			return NULL;
		}
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		return n;
	}
	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		n = yn_new(b, YN_SEQ, line);
		end = YAML_SEQUENCE_END_EVENT;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		n = yn_new(b, YN_MAP, line);
		end = YAML_MAPPING_END_EVENT;
	} else {
		yb_error(b, line, "unexpected YAML event");
		return NULL;
	}
	if (n == NULL)
		return NULL;
	for (;;) {
		if (!yaml_parser_parse(p, &next)) {
			yb_syntax(b, p);
			goto fail;
		}
		if (next.type == end) {
			yaml_event_delete(&next);
			break;
		}
		child = yb_node(b, p, &next, depth + 1);
		yaml_event_delete(&next);
		if (child == NULL)
			goto fail;
		if (n->type == YN_MAP && n->nitems % 2 == 0) {
			if (child->type != YN_SCALAR) {
				yb_error(b, child->line,
				    "mapping keys must be single values, "
				    "not lists or mappings");
				ytree_free(child);
				goto fail;
			}
			if (yb_dup_key(b, n, child) == -1) {
				ytree_free(child);
				goto fail;
			}
		}
		if (yn_append(b, n, child) == -1) {
			ytree_free(child);
			goto fail;
		}
	}
	return n;
fail:
	ytree_free(n);
	return NULL;
}

struct ynode *
ytree_parse(const char *name, const unsigned char *buf, size_t len,
    char *err, size_t errsz)
{
	yaml_parser_t	 p;
	yaml_event_t	 ev;
	struct ybuild	 b;
	struct ynode	*root = NULL;
	int		 state = 0;	/* 0 stream, 1 doc, 2 root done, 3 end */

	memset(&b, 0, sizeof(b));
	b.name = name;
	b.err = err;
	b.errsz = errsz;
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errsz, "%s: cannot initialise YAML parser", name);
		return NULL;
	}
	yaml_parser_set_input_string(&p, buf, len);
	while (!b.failed && state != 3) {
		if (!yaml_parser_parse(&p, &ev)) {
			yb_syntax(&b, &p);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_STREAM_END_EVENT:
			if (ev.type == YAML_STREAM_END_EVENT)
				state = 3;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (state != 0)
				yb_error(&b, ev_line(&ev),
				    "only one YAML document is allowed");
			else if (ev.data.document_start.tag_directives.start !=
			    ev.data.document_start.tag_directives.end)
				yb_error(&b, ev_line(&ev),
				    "YAML tag directives are not allowed");
			state = 1;
			break;
		case YAML_DOCUMENT_END_EVENT:
			state = 2;
			break;
		default:
			if (state != 1 || root != NULL) {
				yb_error(&b, ev_line(&ev), "unexpected content");
				break;
			}
			root = yb_node(&b, &p, &ev, 0);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (!b.failed && root == NULL)
		yb_error(&b, 1, "empty document");
	if (b.failed) {
		ytree_free(root);
		return NULL;
	}
	return root;
}

struct ynode *
ytree_load(const char *path, char *err, size_t errsz)
{
	struct stat	 st;
	unsigned char	*buf;
	struct ynode	*root;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((uint64_t)st.st_size > YTREE_MAX_FILE) {
		snprintf(err, errsz, "%s: file too large", path);
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errsz, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		snprintf(err, errsz, "%s: short read", path);
		free(buf);
		return NULL;
	}
	root = ytree_parse(path, buf, off, err, errsz);
	free(buf);
	return root;
}

size_t
ymap_len(const struct ynode *n)
{
	return n->type == YN_MAP ? n->nitems / 2 : 0;
}

const struct ynode *
ymap_key(const struct ynode *n, size_t i)
{
	return n->items[2 * i];
}

const struct ynode *
ymap_value(const struct ynode *n, size_t i)
{
	return n->items[2 * i + 1];
}

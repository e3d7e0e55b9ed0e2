/*
 * yaml_tree: a YAML document as a plain tree with line numbers.
 *
 * Built from libyaml's event stream (not its document loader, which
 * resolves aliases silently) so that anchors, aliases, explicit tags,
 * several documents, complex or duplicate keys and NUL bytes are refused
 * with the line they are on.  Nesting depth and node count are bounded.
 */
#ifndef RELAYD_YAML_TREE_H
#define RELAYD_YAML_TREE_H

#include <stddef.h>

enum ynode_type {
	YN_SCALAR,
	YN_SEQ,
	YN_MAP
};

struct ynode {
	enum ynode_type	  type;
	int		  line;		/* 1-based */
	int		  plain;	/* scalar was not quoted */
	char		 *value;	/* scalar: NUL-terminated */
	size_t		  vlen;
	struct ynode	**items;	/* seq: items; map: key, value, ... */
	size_t		  nitems;
};

#define YTREE_MAX_DEPTH	32
#define YTREE_MAX_NODES	(4u * 1024 * 1024)
#define YTREE_MAX_FILE	(64u * 1024 * 1024)

/* On error returns NULL and writes "name:line: reason" into err. */
struct ynode *ytree_parse(const char *name, const unsigned char *buf,
	    size_t len, char *err, size_t errsz);
struct ynode *ytree_load(const char *path, char *err, size_t errsz);
void	 ytree_free(struct ynode *);

/* Map helpers: the number of pairs and the i-th key and value. */
size_t	 ymap_len(const struct ynode *);
const struct ynode *ymap_key(const struct ynode *, size_t);
const struct ynode *ymap_value(const struct ynode *, size_t);

#endif

"""storedump: read and write relayd's LMDB queue store from the tests, with
the Debian lmdb-utils (mdb_dump, mdb_load), while relayd is stopped.

Envelopes are typed marshalled fields (common/marshal.c): a tag octet,
then the value, little-endian; strings and data with a 16-bit length."""
import os
import pwd
import struct
import subprocess
import tempfile

TAG_SIZES = {0xa1: 1, 0xa2: 4, 0xa3: 8, 0xa4: 8}
TAG_I64 = 0xa4
TAG_BLOBS = (0xa5, 0xa6)


def dump(dbdir, name):
    """[(key, value)] of one database, as bytes."""
    p = subprocess.run(["mdb_dump", "-s", name, dbdir], capture_output=True,
                       text=True, check=True)
    lines = p.stdout.splitlines()
    body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    vals = [bytes.fromhex(l.strip()) for l in body]
    return list(zip(vals[0::2], vals[1::2]))


def dump_text(name, pairs, mapsize=None):
    out = ["VERSION=3", "format=bytevalue", "database=" + name,
           "type=btree"]
    if mapsize:
        out.append("mapsize=%d" % mapsize)
    out.append("HEADER=END")
    for k, v in pairs:
        out += [" " + k.hex(), " " + v.hex()]
    out.append("DATA=END")
    return "\n".join(out) + "\n"


def load_text(dbdir, text):
    """mdb_load a dump (several databases may follow each other)."""
    os.makedirs(dbdir, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".dump") as f:
        f.write(text)
        f.flush()
        subprocess.run(["mdb_load", "-f", f.name, dbdir], check=True,
                       capture_output=True)


def load(dbdir, name, pairs):
    """Put these records into a database (overwriting)."""
    load_text(dbdir, dump_text(name, pairs))


def fields(value):
    """(offset, tag, length of the value) of each field of an envelope."""
    off, out = 0, []
    while off < len(value):
        tag = value[off]
        if tag in TAG_SIZES:
            n, start = TAG_SIZES[tag], off + 1
        elif tag in TAG_BLOBS:
            n = struct.unpack_from("<H", value, off + 1)[0]
            start = off + 3
        else:
            raise ValueError("tag %02x at %d" % (tag, off))
        out.append((start, tag, n))
        off = start + n
    return out


def shift_times(value, delta):
    """An envelope with every time in it (creation, next attempts) moved
    by delta seconds."""
    b = bytearray(value)
    for start, tag, n in fields(value):
        if tag == TAG_I64:
            t = struct.unpack_from("<q", b, start)[0]
            struct.pack_into("<q", b, start, t + delta)
    return bytes(b)


def times(value):
    """The envelope's times: its creation, then each next attempt."""
    return [struct.unpack_from("<q", value, start)[0] for start, tag, n in
            fields(value) if tag == TAG_I64]


def give_to_queued(path):
    """Files made by the test as root belong to queued's user, as queued's
    own would (a relayd started as an ordinary user runs as that user)."""
    if os.geteuid() != 0:
        return
    q = pwd.getpwnam("relayd-queue")
    os.chown(path, q.pw_uid, q.pw_gid)

#!/usr/bin/env python3
"""Writes problems.parquet, the Parquet dataset fixture, with the standard library only.

No Parquet writer is installed here (no pyarrow; hyparquet only reads), so this writes the
format's minimal subset by hand: one row group, REQUIRED UTF-8 BYTE_ARRAY columns, one
uncompressed PLAIN data page each, Thrift compact metadata. The columns follow Hugging Face
math sets such as DeepScaleR: `problem` and a worked `solution` ending in \\boxed{}.
Run: python3 tests/data/datasets/make_parquet.py
"""
import os
import struct

ROWS = [
    {"problem": f"add {a} and {b}", "solution": f"{a} + {b} = {a + b}, so \\boxed{{{a + b}}}"}
    for a, b in [(1, 2), (3, 4), (10, 5), (7, 7), (20, 3), (6, 9)]
]
COLUMNS = ["problem", "solution"]


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(n):
    return varint((n << 1) ^ (n >> 63))


I32, I64, BINARY, LIST, STRUCT = 5, 6, 8, 9, 12


class Struct:
    """A Thrift compact-protocol struct: fields written in increasing id order."""

    def __init__(self):
        self.out = bytearray()
        self.last = 0

    def field(self, fid, ftype, payload):
        self.out += bytes([((fid - self.last) << 4) | ftype]) + payload
        self.last = fid
        return self

    def i32(self, fid, v):
        return self.field(fid, I32, zigzag(v))

    def i64(self, fid, v):
        return self.field(fid, I64, zigzag(v))

    def string(self, fid, s):
        b = s.encode()
        return self.field(fid, BINARY, varint(len(b)) + b)

    def struct(self, fid, s):
        return self.field(fid, STRUCT, s.end())

    def list(self, fid, etype, items):
        return self.field(fid, LIST, bytes([(len(items) << 4) | etype]) + b"".join(items))

    def end(self):
        return bytes(self.out) + b"\x00"


def page(values):
    data = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    header = (
        Struct()
        .i32(1, 0)  # DATA_PAGE
        .i32(2, len(data))
        .i32(3, len(data))
        .struct(5, Struct().i32(1, len(values)).i32(2, 0).i32(3, 3).i32(4, 3))
        .end()
    )
    return header + data


def main():
    body = bytearray(b"PAR1")
    chunks = []
    for name in COLUMNS:
        offset = len(body)
        blob = page([row[name] for row in ROWS])
        body += blob
        meta = (
            Struct()
            .i32(1, 6)  # BYTE_ARRAY
            .list(2, I32, [zigzag(0)])  # PLAIN
            .list(3, BINARY, [varint(len(name)) + name.encode()])
            .i32(4, 0)  # UNCOMPRESSED
            .i64(5, len(ROWS))
            .i64(6, len(blob))
            .i64(7, len(blob))
            .i64(9, offset)
        )
        chunks.append(Struct().i64(2, offset).struct(3, meta).end())
    schema = [Struct().string(4, "schema").i32(5, len(COLUMNS)).end()] + [
        Struct().i32(1, 6).i32(3, 0).string(4, name).i32(6, 0).end() for name in COLUMNS
    ]
    row_group = Struct().list(1, STRUCT, chunks).i64(2, len(body) - 4).i64(3, len(ROWS)).end()
    footer = (
        Struct()
        .i32(1, 1)
        .list(2, STRUCT, schema)
        .i64(3, len(ROWS))
        .list(4, STRUCT, [row_group])
        .string(6, "tina-ts tests/data/datasets/make_parquet.py")
        .end()
    )
    body += footer + struct.pack("<I", len(footer)) + b"PAR1"
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "problems.parquet")
    with open(path, "wb") as f:
        f.write(body)


if __name__ == "__main__":
    main()

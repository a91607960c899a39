"""One error type for bad input, so the command line can print it as one line without a traceback."""


class InputError(ValueError):
    """Bad input from a user: a file, a field or an option. The message names what and where.

    Build it with `InputError.at(source, "what is wrong", video=..., field=...)` so every message reads
    the same: `file.json: video 'abc', field 'annotations[0].segment': end 3.0 < start 5.0`.
    """

    @classmethod
    def at(cls, source: object, message: str, *, video: str | None = None, field: str | None = None) -> "InputError":
        where = [str(source)] if source else []
        if video is not None:
            where.append(f"video {video!r}")
        if field is not None:
            where.append(f"field {field!r}")
        return cls(", ".join(where) + ": " + message if where else message)


def counted(n: int, noun: str) -> str:
    """`1 video`, `2 videos`, `1 class`, `3 classes`, `1,200 videos`: for messages and summaries."""
    return f"{n:,} {noun}{'' if n == 1 else 'es' if noun.endswith(('s', 'sh', 'ch', 'x')) else 's'}"

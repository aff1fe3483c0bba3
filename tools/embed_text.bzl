"""embed_text: a text file compiled into a binary as a C++ raw string."""

def embed_text(name, src, out, symbol, delimiter):
    """Makes `out`, a header with `inline constexpr const char symbol[]` holding `src`.

    delimiter: the raw string's delimiter, which must not occur in the file.
    """
    native.genrule(
        name = name,
        srcs = [src],
        outs = [out],
        cmd = ("(echo '// Generated from $<.'; echo '#pragma once'; " +
               "echo 'inline constexpr const char %s[] = R\"%s('; cat $<; echo ')%s\";') > $@") % (symbol, delimiter, delimiter),
    )

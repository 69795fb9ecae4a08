"""C2SP signed notes, vkeys and tlog checkpoints against published examples: the Go reference
implementation's keys and notes (golang.org/x/mod/sumdb/note), the signed-note spec example key, the
tlog-checkpoint spec example body; and refusal of malformed notes, keys and checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.note import (
    SIG_PREFIX,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    b64decode_strict,
    check_key_name,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint_body,
    parse_vkey,
    sign_note,
    split_note,
)
from forge_tui.errors import SignatureError

# golang.org/x/mod/sumdb/note: note_test.go and example_test.go
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
# The signed-note spec's example key, and transparency-dev/formats' test key whose base64 holds a '+'.
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
# The tlog-checkpoint spec's example body.
SOFA_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def _peter_signer() -> Signer:
    name, _hex, key64 = PETER_SKEY.split("+", 4)[2:]
    raw = base64.b64decode(key64)
    assert raw[0] == 0x01
    return Signer(name, raw[1:])


@pytest.mark.parametrize(
    "vkey,name,kid",
    [
        (PETER_VKEY, "PeterNeumann", "c74f20a3"),
        (ENOCH_VKEY, "EnochRoot", "af0cfe78"),
        (FOO_VKEY, "example.com/foo", "530d903a"),
        (PLUS_VKEY, "TEST", "7997405c"),
    ],
)
def test_published_vkeys_parse_and_their_key_ids_recompute(vkey, name, kid):
    v = parse_vkey(vkey)
    assert v.name == name
    assert v.key_id.hex() == kid
    assert key_id(name, v.public_key) == hashlib.sha256(name.encode() + b"\n\x01" + v.public_key).digest()[:4]
    assert v.vkey == vkey  # written back byte for byte
    assert v.kid == f"{name}+{kid}"


def test_signer_from_the_published_private_key_reproduces_the_published_signature():
    signer = _peter_signer()
    assert signer.verifier.vkey == PETER_VKEY
    # Ed25519 is deterministic: the note must come out byte for byte as the Go example prints it.
    assert sign_note(TEXT, [signer]) == TEXT + "\n" + PETER_SIG


def test_open_published_notes():
    peter, enoch = parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)
    text, good = open_note(TEXT + "\n" + PETER_SIG, [peter])
    assert text == TEXT and good == [peter]
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    # An unknown key's signature is ignored; the known one suffices.
    assert open_note(both, [peter])[1] == [peter]
    assert open_note(both, [enoch])[1] == [enoch]
    assert open_note(both, [peter, enoch])[1] == [peter, enoch]


def test_split_published_note():
    text, sigs = split_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert text == TEXT
    assert [(s.name, s.key_id.hex()) for s in sigs] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]
    assert all(len(s.signature) == 64 for s in sigs)


def test_altered_text_fails():
    peter = parse_vkey(PETER_VKEY)
    with pytest.raises(SignatureError):
        open_note(TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG, [peter])


def test_no_trusted_signature_fails():
    with pytest.raises(SignatureError, match="trusted"):
        open_note(TEXT + "\n" + PETER_SIG, [parse_vkey(ENOCH_VKEY)])
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + PETER_SIG, [])


def test_a_known_key_whose_signature_fails_rejects_the_note():
    peter, enoch = parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)
    # Enoch's line carrying Peter's signature bytes under Enoch's key id: Enoch is known, so it must verify.
    peter_raw = b64decode_strict(PETER_SIG.split(" ")[2].strip())
    forged = f"{SIG_PREFIX}EnochRoot {base64.b64encode(enoch.key_id + peter_raw[4:]).decode()}\n"
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + PETER_SIG + forged, [peter, enoch])


def test_same_name_other_id_is_an_unknown_key():
    peter = parse_vkey(PETER_VKEY)
    raw = b64decode_strict(PETER_SIG.split(" ")[2].strip())
    zero_id = base64.b64encode(bytes(4) + raw[4:]).decode()
    other_id = f"{SIG_PREFIX}PeterNeumann {zero_id}\n"
    # Ignored (unknown key), so Peter's real signature still carries the note ...
    assert open_note(TEXT + "\n" + other_id + PETER_SIG, [peter])[1] == [peter]
    # ... and alone it is not enough.
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + other_id, [peter])


def test_note_text_may_hold_blank_lines_split_at_the_last():
    signer = Signer.generate("example.com/x")
    text = "first\n\nthird\n"
    note = sign_note(text, [signer])
    assert open_note(note, [signer.verifier])[0] == text


@pytest.mark.parametrize(
    "bad",
    [
        "vkey",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key id
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
        "PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other name
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # short base64
        "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",  # not Ed25519 / bad length
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",  # url-safe alphabet
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # empty name
    ],
)
def test_malformed_vkeys_refused(bad):
    with pytest.raises(NoteError):
        parse_vkey(bad)


def test_every_single_byte_change_of_a_vkey_is_refused():
    b = bytearray(PETER_VKEY.encode())
    for i in range(len(b)):
        orig = b[i]
        b[i] = orig + 1
        with pytest.raises(NoteError):
            parse_vkey(b.decode())
        b[i] = orig


def test_strict_base64():
    assert b64decode_strict("AAEC") == b"\x00\x01\x02"
    for bad in ("AAE", "AAE=A", "AQ==\n", "A-_B", "AR==", "AAB="):  # missing padding, alphabet, padding bits
        with pytest.raises(NoteError):
            b64decode_strict(bad)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b"])
def test_key_names_without_spaces_or_plus(name):
    with pytest.raises(NoteError):
        check_key_name(name)


@pytest.mark.parametrize(
    "note",
    [
        TEXT + PETER_SIG,  # no blank line
        TEXT + "\n" + PETER_SIG.rstrip("\n"),  # no final newline
        TEXT + "\n",  # no signature lines
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),  # ASCII dash
        TEXT + "\n" + PETER_SIG.replace("\u2014 ", "\u2014"),  # no space after the dash
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann ", "PeterNeumann"),  # no space before the signature
        TEXT + "\n" + PETER_SIG.replace("AM=", "AM"),  # unpadded
        TEXT + "\n" + PETER_SIG + "\n",  # trailing blank line
        TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"),  # CRLF
        TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG,
        TEXT + "\n\u2014 PeterNeumann AAAA\n",  # shorter than a key id and one byte
    ],
)
def test_malformed_notes_refused(note):
    with pytest.raises((NoteError, SignatureError)):
        open_note(note, [parse_vkey(PETER_VKEY)])


def test_split_only_on_lf():
    """NEL (U+0085) and U+2028 are not line breaks in a note, although str.splitlines splits there."""
    signer = Signer.generate("example.com/x")
    text = "origin\u0085still the first line\u2028and this\n"
    note = sign_note(text, [signer])
    assert open_note(note, [signer.verifier])[0] == text


@pytest.mark.parametrize("ch", ["\x00", "\x0b", "\x0c", "\t", "\x1f"])
def test_ascii_control_characters_refused(ch):
    """signed-note: notes MUST NOT contain ASCII control characters other than newline."""
    signer = Signer.generate("example.com/x")
    note = sign_note(f"origin{ch}more\n", [signer])  # signing does not judge the text; opening does
    with pytest.raises(NoteError, match="control"):
        open_note(note, [signer.verifier])


# ---- checkpoints ----------------------------------------------------------------------------------


def test_spec_checkpoint_body_parses():
    cp = parse_checkpoint_body(SOFA_BODY)
    assert cp == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert cp.body() == SOFA_BODY


def test_checkpoint_body_format():
    cp = Checkpoint("forge-tui.local/p/l", 0, hashlib.sha256(b"").digest())
    assert cp.body() == "forge-tui.local/p/l\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert parse_checkpoint_body(cp.body()) == cp


@pytest.mark.parametrize(
    "body",
    [
        "example.com/log\n020\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        "example.com/log\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com/log\n+1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com/log\n1 \nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com/log\n\u0661\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # Arabic-Indic digit one
        "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",  # unpadded root
        "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n",  # 31 bytes
        "example.com/log\n1\n",  # no root
        "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",  # no final newline
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # empty origin
        " example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com/ log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ],
)
def test_malformed_checkpoint_bodies_refused(body):
    with pytest.raises(NoteError):
        parse_checkpoint_body(body)


def test_signed_checkpoint_round_trip_and_tamper():
    signer = Signer.generate("forge-tui.local/p/l")
    cp = Checkpoint(signer.name, 5, b"\x07" * 32)
    note = cp.sign([signer])
    assert note.startswith(cp.body() + "\n" + SIG_PREFIX + signer.name + " ")
    got, good = open_checkpoint(note, [signer.verifier])
    assert got == cp and good == [signer.verifier]
    with pytest.raises(SignatureError):
        open_checkpoint(note.replace("\n5\n", "\n6\n", 1), [signer.verifier])
    other = Signer.generate("forge-tui.local/p/l")  # same name, other key: a different key id
    with pytest.raises(SignatureError):
        open_checkpoint(note, [other.verifier])


def test_verifier_rejects_wrong_length_signature():
    v = Verifier("n", b"\x01" * 32)
    with pytest.raises(SignatureError):
        v.verify(b"msg", b"\x00" * 63)


def test_signer_validates_inputs():
    with pytest.raises(NoteError):
        Signer("bad name", b"\x00" * 32)
    with pytest.raises(NoteError):
        Signer("ok", b"\x00" * 31)
    with pytest.raises(NoteError):
        sign_note("no newline", [Signer.generate("ok")])


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=2048))
def test_signer_signs_exactly_as_pynacl_signing_key(seed, message):
    """Signer.sign calls libsodium directly: the signature must be SigningKey.sign's (Ed25519 is
    deterministic) and verify with the signer's own verifier."""
    import nacl.signing

    s = Signer("forge-tui.local/p/l", seed)
    sig = s.sign(message)
    assert sig == nacl.signing.SigningKey(seed).sign(message).signature
    s.verifier.verify(message, sig)

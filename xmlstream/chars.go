package xmlstream

// Byte classes used by the scanners. A byte is "plain" for a context when it
// can be copied through without a second look; every other byte takes the
// slow path, which handles references, line endings, validation and errors.
const (
	clSpace      = 1 << iota // XML white space: #x20 | #x9 | #xD | #xA
	clNameStart              // ASCII NameStartChar, without ':'
	clName                   // ASCII NameChar, without ':'
	clTextPlain              // plain in character data
	clAttrPlain              // plain in an attribute value (either quote)
	clCDATAPlain             // plain inside a CDATA section
	clTextStrict             // plain in character data under StrictEscaping
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		var f uint8
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			f |= clSpace
		}
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' {
			f |= clNameStart | clName
		}
		if '0' <= b && b <= '9' || b == '-' || b == '.' {
			f |= clName
		}
		if b < 0x80 && (b >= 0x20 || b == '\t' || b == '\n') && b != '\r' {
			f |= clCDATAPlain
			switch b {
			case '<', '&', ']', '>':
			case '"', '\'':
				f |= clTextPlain
			default:
				f |= clTextPlain | clTextStrict
			}
			switch b {
			case '<', '&', '>', '"', '\'', '\t', '\n':
			default:
				f |= clAttrPlain
			}
		}
		t[c] = f
	}
	return t
}()

func isSpace(b byte) bool { return class[b]&clSpace != 0 }

// isNameStartRune reports whether r (≥ 0x80) is a NameStartChar of XML 1.0
// fifth edition (§2.3).
func isNameStartRune(r rune) bool {
	switch {
	case r < 0xC0:
		return false
	case r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF:
		return true
	case r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF:
		return true
	case r == 0x200C, r == 0x200D:
		return true
	case r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF:
		return true
	case r >= 0x3001 && r <= 0xD7FF, r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

// isNameRune reports whether r (≥ 0x80) is a NameChar of XML 1.0 fifth
// edition.
func isNameRune(r rune) bool {
	return isNameStartRune(r) || r == 0xB7 || r >= 0x300 && r <= 0x36F || r == 0x203F || r == 0x2040
}

// isSpaceOnly reports whether b holds nothing but XML white space.
func isSpaceOnly(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

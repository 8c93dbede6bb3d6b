#include "json_value.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

namespace kws {
namespace json {
namespace {

constexpr int kMaxDepth = 64;

// A byte for messages: 'c' when printable ASCII, else its hex code (messages stay UTF-8).
std::string CharName(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
  const char* hex = "0123456789abcdef";
  return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
}

const char* TypeName(Value::Type t) {
  switch (t) {
    case Value::Type::kNull:
      return "null";
    case Value::Type::kBool:
      return "a boolean";
    case Value::Type::kNumber:
      return "a number";
    case Value::Type::kString:
      return "a string";
    case Value::Type::kArray:
      return "an array";
    case Value::Type::kObject:
      return "an object";
  }
  return "?";
}

class Parser {
 public:
  Parser(const char* data, size_t size) : p_(data), size_(size) {}

  Value ParseDocument() {
    SkipSpace();
    Value v = ParseValue(0);
    SkipSpace();
    if (pos_ != size_) Fail("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void Fail(const std::string& msg) const {
    throw JsonError("JSON error at byte " + std::to_string(pos_) + ": " + msg);
  }
  bool AtEnd() const { return pos_ >= size_; }
  char Peek() const {
    if (AtEnd()) Fail("unexpected end of input");
    return p_[pos_];
  }
  void SkipSpace() {
    while (pos_ < size_ &&
           (p_[pos_] == ' ' || p_[pos_] == '\t' || p_[pos_] == '\n' || p_[pos_] == '\r'))
      ++pos_;
  }
  void Expect(const char* word) {
    size_t n = std::strlen(word);
    if (size_ - pos_ < n || std::memcmp(p_ + pos_, word, n) != 0)
      Fail(std::string("expected '") + word + "'");
    pos_ += n;
  }

  Value ParseValue(int depth) {
    if (depth > kMaxDepth) Fail("nesting deeper than 64 levels");
    char c = Peek();
    switch (c) {
      case '{':
        return ParseObject(depth);
      case '[':
        return ParseArray(depth);
      case '"':
        return Value::MakeString(ParseString());
      case 't':
        Expect("true");
        return Value::MakeBool(true);
      case 'f':
        Expect("false");
        return Value::MakeBool(false);
      case 'n':
        Expect("null");
        return Value::MakeNull();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return Value::MakeNumber(ParseNumber());
        Fail("unexpected character " + CharName(c));
    }
  }

  Value ParseObject(int depth) {
    ++pos_;  // '{'
    std::vector<std::pair<std::string, Value>> members;
    std::set<std::string> keys;
    SkipSpace();
    if (Peek() == '}') {
      ++pos_;
      return Value::MakeObject(std::move(members));
    }
    while (true) {
      SkipSpace();
      if (Peek() != '"') Fail("expected a string key");
      std::string key = ParseString();
      if (!keys.insert(key).second) Fail("duplicate key '" + key + "'");
      SkipSpace();
      if (Peek() != ':') Fail("expected ':'");
      ++pos_;
      SkipSpace();
      Value v = ParseValue(depth + 1);
      members.emplace_back(std::move(key), std::move(v));
      SkipSpace();
      char c = Peek();
      ++pos_;
      if (c == '}') break;
      if (c != ',') Fail("expected ',' or '}'");
    }
    return Value::MakeObject(std::move(members));
  }

  Value ParseArray(int depth) {
    ++pos_;  // '['
    std::vector<Value> items;
    SkipSpace();
    if (Peek() == ']') {
      ++pos_;
      return Value::MakeArray(std::move(items));
    }
    while (true) {
      SkipSpace();
      items.push_back(ParseValue(depth + 1));
      SkipSpace();
      char c = Peek();
      ++pos_;
      if (c == ']') break;
      if (c != ',') Fail("expected ',' or ']'");
    }
    return Value::MakeArray(std::move(items));
  }

  unsigned ParseHex4() {
    if (size_ - pos_ < 4) Fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = p_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        Fail("bad hex digit in \\u escape");
    }
    return v;
  }

  static void AppendUtf8(std::string& s, unsigned cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Validates one multi-byte UTF-8 sequence whose lead byte was just read (strict:
  // no overlong forms, no surrogates, nothing above U+10FFFF) and appends it.
  void ReadUtf8Sequence(unsigned char lead, std::string& out) {
    int extra;
    unsigned cp;
    if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1;
      cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2;
      cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3;
      cp = lead & 0x07;
    } else {
      Fail("invalid UTF-8 in string");
    }
    if (size_ - pos_ < static_cast<size_t>(extra)) Fail("truncated UTF-8 in string");
    for (int i = 0; i < extra; ++i) {
      unsigned char b = static_cast<unsigned char>(p_[pos_ + i]);
      if ((b & 0xC0) != 0x80) Fail("invalid UTF-8 in string");
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      Fail("invalid UTF-8 in string");
    out += static_cast<char>(lead);
    out.append(p_ + pos_, extra);
    pos_ += extra;
  }

  std::string ParseString() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (AtEnd()) Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(p_[pos_++]);
      if (c == '"') break;
      if (c < 0x20) Fail("control character in string");
      if (c >= 0x80) {
        ReadUtf8Sequence(c, out);
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (AtEnd()) Fail("unterminated escape");
      char e = p_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = ParseHex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (size_ - pos_ < 2 || p_[pos_] != '\\' || p_[pos_ + 1] != 'u')
              Fail("unpaired surrogate in \\u escape");
            pos_ += 2;
            unsigned lo = ParseHex4();
            if (lo < 0xDC00 || lo > 0xDFFF) Fail("bad low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            Fail("unpaired surrogate in \\u escape");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          Fail("bad escape character " + CharName(e));
      }
    }
    return out;
  }

  double ParseNumber() {
    size_t start = pos_;
    if (p_[pos_] == '-') ++pos_;
    if (AtEnd()) Fail("truncated number");
    if (p_[pos_] == '0') {
      ++pos_;
    } else if (p_[pos_] >= '1' && p_[pos_] <= '9') {
      while (pos_ < size_ && p_[pos_] >= '0' && p_[pos_] <= '9') ++pos_;
    } else {
      Fail("bad number");
    }
    if (pos_ < size_ && p_[pos_] == '.') {
      ++pos_;
      if (AtEnd() || p_[pos_] < '0' || p_[pos_] > '9') Fail("bad number: digit expected after '.'");
      while (pos_ < size_ && p_[pos_] >= '0' && p_[pos_] <= '9') ++pos_;
    }
    if (pos_ < size_ && (p_[pos_] == 'e' || p_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < size_ && (p_[pos_] == '+' || p_[pos_] == '-')) ++pos_;
      if (AtEnd() || p_[pos_] < '0' || p_[pos_] > '9')
        Fail("bad number: digit expected in exponent");
      while (pos_ < size_ && p_[pos_] >= '0' && p_[pos_] <= '9') ++pos_;
    }
    if (pos_ - start > 64) Fail("number too long");
    std::string text(p_ + start, pos_ - start);  // strtod needs a terminated copy
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(v)) Fail("number out of range");
    return v;
  }

  const char* p_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

Value Value::MakeBool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
Value Value::MakeNumber(double d) {
  Value v;
  v.type_ = Type::kNumber;
  v.number_ = d;
  return v;
}
Value Value::MakeString(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}
Value Value::MakeArray(std::vector<Value> a) {
  Value v;
  v.type_ = Type::kArray;
  v.array_ = std::move(a);
  return v;
}
Value Value::MakeObject(std::vector<std::pair<std::string, Value>> o) {
  Value v;
  v.type_ = Type::kObject;
  v.object_ = std::move(o);
  return v;
}

static void CheckType(const Value& v, Value::Type want, const std::string& what) {
  if (v.type() != want)
    throw JsonError(what + " must be " + TypeName(want) + ", not " + TypeName(v.type()));
}

bool Value::AsBool(const std::string& what) const {
  CheckType(*this, Type::kBool, what);
  return bool_;
}
double Value::AsNumber(const std::string& what) const {
  CheckType(*this, Type::kNumber, what);
  return number_;
}
long long Value::AsInt(const std::string& what, long long lo, long long hi) const {
  CheckType(*this, Type::kNumber, what);
  // 2^63 rounds from LLONG_MAX, so the upper bound is also checked strictly against it.
  if (!(number_ >= static_cast<double>(lo) && number_ <= static_cast<double>(hi)) ||
      !(number_ < 9223372036854775808.0) || number_ != std::floor(number_))
    throw JsonError(what + " must be an integer in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
  return static_cast<long long>(number_);
}
const std::string& Value::AsString(const std::string& what) const {
  CheckType(*this, Type::kString, what);
  return string_;
}
const std::vector<Value>& Value::AsArray(const std::string& what) const {
  CheckType(*this, Type::kArray, what);
  return array_;
}
const std::vector<std::pair<std::string, Value>>& Value::AsObject(const std::string& what) const {
  CheckType(*this, Type::kObject, what);
  return object_;
}
const Value* Value::Find(const std::string& key) const {
  CheckType(*this, Type::kObject, "value");
  for (const auto& kv : object_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}
const Value& Value::Get(const std::string& key, const std::string& what) const {
  CheckType(*this, Type::kObject, what);
  const Value* v = Find(key);
  if (!v) throw JsonError(what + " lacks '" + key + "'");
  return *v;
}

Value Parse(const char* data, size_t size) {
  if (data == nullptr && size != 0) throw JsonError("JSON error: null input");
  return Parser(data, size).ParseDocument();
}

}  // namespace json
}  // namespace kws

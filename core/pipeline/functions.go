package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// sensitiveMark is the cty mark carried by values that must never be shown:
// results of env() of a secret-named variable and values of sensitive
// variables. Marks survive
// functions, templates and conversions, so a derived value such as
// "${env("USER")}@example.com" stays sensitive.
type markSensitive struct{}

var sensitiveMark = markSensitive{}

// maxFileFunctionBytes caps file(): it reads small configuration snippets
// (a certificate, a query), never data.
const maxFileFunctionBytes = 1 << 20

// functions returns the functions a pipeline may call. dir is the pipeline
// file's folder (file() paths are relative to it); lookupEnv reads the
// environment; sensitive, when not nil, is told every value env() returns,
// at once, so that it is redacted even when a later step of the same
// expression fails and quotes it in an error.
func functions(dir string, lookupEnv func(string) (string, bool), sensitive func(string), unused func() bool) map[string]function.Function {
	if sensitive == nil {
		sensitive = func(string) {}
	}
	if unused == nil {
		unused = func() bool { return false }
	}
	fns := map[string]function.Function{
		"env":  envFunc(lookupEnv, sensitive, unused),
		"file": fileFunc(dir),

		"abs":           stdlib.AbsoluteFunc,
		"ceil":          stdlib.CeilFunc,
		"chomp":         stdlib.ChompFunc,
		"coalesce":      stdlib.CoalesceFunc,
		"coalescelist":  stdlib.CoalesceListFunc,
		"compact":       stdlib.CompactFunc,
		"concat":        stdlib.ConcatFunc,
		"contains":      stdlib.ContainsFunc,
		"csvdecode":     stdlib.CSVDecodeFunc,
		"distinct":      stdlib.DistinctFunc,
		"element":       stdlib.ElementFunc,
		"flatten":       stdlib.FlattenFunc,
		"floor":         stdlib.FloorFunc,
		"format":        stdlib.FormatFunc,
		"formatdate":    stdlib.FormatDateFunc,
		"formatlist":    stdlib.FormatListFunc,
		"indent":        stdlib.IndentFunc,
		"join":          stdlib.JoinFunc,
		"jsondecode":    stdlib.JSONDecodeFunc,
		"jsonencode":    stdlib.JSONEncodeFunc,
		"keys":          stdlib.KeysFunc,
		"length":        lengthFunc,
		"lookup":        stdlib.LookupFunc,
		"lower":         stdlib.LowerFunc,
		"max":           stdlib.MaxFunc,
		"merge":         stdlib.MergeFunc,
		"min":           stdlib.MinFunc,
		"parseint":      stdlib.ParseIntFunc,
		"range":         stdlib.RangeFunc,
		"regex":         stdlib.RegexFunc,
		"regexall":      stdlib.RegexAllFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"replace":       stdlib.ReplaceFunc,
		"reverse":       stdlib.ReverseListFunc,
		"slice":         stdlib.SliceFunc,
		"sort":          stdlib.SortFunc,
		"split":         stdlib.SplitFunc,
		"strlen":        stdlib.StrlenFunc,
		"substr":        stdlib.SubstrFunc,
		"title":         stdlib.TitleFunc,
		"tobool":        stdlib.MakeToFunc(cty.Bool),
		"tolist":        stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":         stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber":      stdlib.MakeToFunc(cty.Number),
		"toset":         stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":      stdlib.MakeToFunc(cty.String),
		"trim":          stdlib.TrimFunc,
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimspace":     stdlib.TrimSpaceFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"upper":         stdlib.UpperFunc,
		"values":        stdlib.ValuesFunc,
		"zipmap":        stdlib.ZipmapFunc,
	}
	return fns
}

// FunctionNames lists the functions a pipeline may call, for documentation
// and editor support.
func FunctionNames() []string {
	var names []string
	for n := range functions("", nil, nil, nil) {
		names = append(names, n)
	}
	return names
}

// lengthFunc counts the elements of a collection or the characters of a
// string; stdlib's length only takes collections, and users expect both.
var lengthFunc = function.New(&function.Spec{
	Description: "The number of elements of a list, set or map, or of characters of a string.",
	Params: []function.Parameter{{
		Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true,
	}},
	Type: function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		v := args[0]
		if v.Type() == cty.String {
			return stdlib.Strlen(v)
		}
		return stdlib.Length(v)
	},
})

// envFunc is env("NAME") or env("NAME", "default"). A missing variable
// without a default is an error naming it, so a misconfigured scheduler
// fails at validate time rather than signing in with an empty password.
// The result is sensitive when the variable's name says it holds a secret
// (secretEnvName); any value also becomes sensitive where it is used as
// one, in an attribute its component marks sensitive. Other values (a
// folder, a region) are shown: hiding every env() value made plans and
// logs say location=[redacted].
//
// While unused() is true (a block the command will not use is being
// decoded: LoadOptions.SinksOnly), a missing variable is an unknown value,
// not an error: `agolpipe runs` needs no portal password.
func envFunc(lookupEnv func(string) (string, bool), sensitive func(string), unused func() bool) function.Function {
	return function.New(&function.Spec{
		Description: "The value of an environment variable, or the default when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default, as in env(\"NAME\", \"default\")")
			}
			name := args[0].AsString()
			secret := secretEnvName(name)
			val := cty.NilVal
			if v, ok := lookupEnv(name); ok {
				val = cty.StringVal(v)
			} else if len(args) == 2 {
				val = args[1]
			}
			if val != cty.NilVal {
				if !secret {
					return val, nil
				}
				sensitive(val.AsString())
				return val.Mark(sensitiveMark), nil
			}
			if unused() {
				return cty.UnknownVal(cty.String), nil
			}
			return cty.NilVal, function.NewArgErrorf(0,
				"environment variable %s is not set. Set it in the environment agolpipe runs in (the scheduled task or service), or give a default: env(%q, \"...\")", name, name)
		},
	})
}

// fileFunc is file("path"): the contents of a UTF-8 text file, relative to
// the pipeline file's folder so a pipeline runs the same from any working
// directory.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "The contents of a UTF-8 text file; relative paths start at the pipeline file's folder.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			fi, err := os.Stat(p)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %s: %s", p, pathErr(err))
			}
			if fi.IsDir() {
				return cty.NilVal, function.NewArgErrorf(0, "%s is a folder, not a file", p)
			}
			if fi.Size() > maxFileFunctionBytes {
				return cty.NilVal, function.NewArgErrorf(0, "%s is %d bytes; file() reads small text files up to %d bytes", p, fi.Size(), maxFileFunctionBytes)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %s: %s", p, pathErr(err))
			}
			if !utf8.Valid(b) {
				return cty.NilVal, function.NewArgErrorf(0, "%s is not UTF-8 text; file() reads text only", p)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// pathErr drops the path os errors repeat, since our message names it.
func pathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return fmt.Sprint(err)
}

// secretWords are the parts of an environment variable's name that, by
// the usual convention, say it holds a secret (AGOL_PASSWORD,
// AWS_SECRET_ACCESS_KEY, SMTP_PASS, AZURE_STORAGE_CONNECTION_STRING...).
var secretWords = []string{"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "CONNECTION_STRING", "SAS", "AUTH", "HOOK"}

// secretEnvName reports whether an environment variable's name marks it as
// a secret, word by word (BACKUP_ROOT is not; KEYSTONE_HOST is not: no
// whole word).
func secretEnvName(name string) bool {
	up := strings.ToUpper(name)
	if strings.Contains(up, "CONNECTION_STRING") {
		return true
	}
	for _, w := range strings.FieldsFunc(up, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }) {
		if slices.Contains(secretWords, w) || strings.HasSuffix(w, "PASSWORD") || strings.HasSuffix(w, "TOKEN") || strings.HasSuffix(w, "SECRET") || strings.HasSuffix(w, "HOOK") {
			return true
		}
	}
	return false
}

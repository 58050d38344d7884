package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static/*
var staticFS embed.FS

//go:embed templates/*.html
var templateFS embed.FS

// staticPrefix is where the assets are served.
const staticPrefix = Prefix + "/static/"

// templates are parsed once; a broken template fails every test.
var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"when":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ms":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"short":   func(id string) string { return truncate(id, 8) },
	"percent": func(p float64) string { return strings.TrimSuffix(strings.TrimRight(fmtFloat(p), "0"), ".") + "%" },
	"count":   fmtCount,
}).ParseFS(templateFS, "templates/*.html"))

// assetURLs are the pages' links to their assets, each with the content's
// hash, so that a browser may cache them for long and still never run a
// stale script against a new page.
type assetURLs struct{ CSS, JS string }

type asset struct {
	body        []byte
	contentType string
	hash        string
}

type assets struct {
	files map[string]asset
	urls  assetURLs
}

func loadAssets() (assets, error) {
	a := assets{files: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "static/")
		a.files[name] = asset{body: body, contentType: contentTypes[path.Ext(name)], hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		return a, err
	}
	a.urls = assetURLs{CSS: a.url("console.css"), JS: a.url("console.js")}
	return a, nil
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
}

func (a assets) url(name string) string {
	return staticPrefix + name + "?v=" + a.files[name].hash
}

// serve answers one asset. They are public (the error pages use them) and
// hold nothing secret; only the embedded files exist, no listing.
func (a assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := a.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	if r.URL.Query().Get("v") == f.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+f.hash+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

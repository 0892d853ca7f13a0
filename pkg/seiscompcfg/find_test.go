package seiscompcfg

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindRequestLog(t *testing.T) {
	// Placeholders: ROOT and HOME are replaced by the test's temp dirs.
	tests := []struct {
		name       string
		files      map[string]string // relative to ROOT or HOME ("~/...")
		env        map[string]string
		wantPath   string
		wantSource string // file:line
		wantErr    []string
	}{
		{
			name:       "system config with LOGDIR",
			files:      map[string]string{"etc/fdsnws.cfg": "port = 8080\nrequestLog = @LOGDIR@/fdsnws-requests.log\n"},
			wantPath:   "HOME/.seiscomp/log/fdsnws-requests.log",
			wantSource: "ROOT/etc/fdsnws.cfg:2",
		},
		{
			name: "system overrides defaults, user overrides system",
			files: map[string]string{
				"etc/defaults/fdsnws.cfg": "requestLog = /default.log\n",
				"etc/fdsnws.cfg":          "requestLog = /system.log\n",
				"~/.seiscomp/fdsnws.cfg":  "# mine\nrequestLog = /user.log\n",
			},
			wantPath:   "/user.log",
			wantSource: "HOME/.seiscomp/fdsnws.cfg:2",
		},
		{
			name:       "defaults only",
			files:      map[string]string{"etc/defaults/fdsnws.cfg": "requestLog = @ROOTDIR@/var/log/req.log\n"},
			wantPath:   "ROOT/var/log/req.log",
			wantSource: "ROOT/etc/defaults/fdsnws.cfg:1",
		},
		{
			name: "module file overrides global.cfg of the same stage",
			files: map[string]string{
				"etc/global.cfg": "requestLog = /global.log\n",
				"etc/fdsnws.cfg": "requestLog = /fdsnws.log\n",
			},
			wantPath: "/fdsnws.log", wantSource: "ROOT/etc/fdsnws.cfg:1",
		},
		{
			name: "user global.cfg overrides system fdsnws.cfg",
			files: map[string]string{
				"etc/fdsnws.cfg":         "requestLog = /fdsnws.log\n",
				"~/.seiscomp/global.cfg": "requestLog = /userglobal.log\n",
			},
			wantPath: "/userglobal.log", wantSource: "HOME/.seiscomp/global.cfg:1",
		},
		{
			name:       "SEISCOMP_LOCAL_CONFIG moves the user stage and LOGDIR",
			files:      map[string]string{"~/alt/fdsnws.cfg": "requestLog = @LOGDIR@/r.log\n", "~/.seiscomp/fdsnws.cfg": "requestLog = /ignored.log\n"},
			env:        map[string]string{"SEISCOMP_LOCAL_CONFIG": "HOME/alt"},
			wantPath:   "HOME/alt/log/r.log",
			wantSource: "HOME/alt/fdsnws.cfg:1",
		},
		{
			name:     "quoted with spaces and trailing comment",
			files:    map[string]string{"etc/fdsnws.cfg": `requestLog = "/data/log dir/req # not a comment.log"   # a comment` + "\n"},
			wantPath: "/data/log dir/req # not a comment.log", wantSource: "ROOT/etc/fdsnws.cfg:1",
		},
		{
			name:     "line continuation joins without a space",
			files:    map[string]string{"etc/fdsnws.cfg": "requestLog = /var/log/\\\n   seiscomp/req.log\n"},
			wantPath: "/var/log/seiscomp/req.log", wantSource: "ROOT/etc/fdsnws.cfg:2",
		},
		{
			name:     "environment reference",
			files:    map[string]string{"etc/fdsnws.cfg": "requestLog = ${LOGBASE}/req.log\n"},
			env:      map[string]string{"LOGBASE": "/srv/logs"},
			wantPath: "/srv/logs/req.log", wantSource: "ROOT/etc/fdsnws.cfg:1",
		},
		{
			name:     "SEISCOMP_ROOT reference",
			files:    map[string]string{"etc/fdsnws.cfg": "requestLog = ${SEISCOMP_ROOT}/var/log/req.log\n"},
			wantPath: "ROOT/var/log/req.log", wantSource: "ROOT/etc/fdsnws.cfg:1",
		},
		{
			name:     "parameter reference across stages",
			files:    map[string]string{"etc/global.cfg": "logbase = /from/global\n", "etc/fdsnws.cfg": "requestLog = ${logbase}/req.log\n"},
			wantPath: "/from/global/req.log", wantSource: "ROOT/etc/fdsnws.cfg:1",
		},
		{
			name: "relative include",
			files: map[string]string{
				"etc/fdsnws.cfg":       "include fdsnws-extra.cfg\nport = 8081\n",
				"etc/fdsnws-extra.cfg": "\n\nrequestLog = @CONFIGDIR@/req.log\n",
			},
			wantPath: "HOME/.seiscomp/req.log", wantSource: "ROOT/etc/fdsnws-extra.cfg:3",
		},
		{
			name: "include from home with tilde, cycle ignored",
			files: map[string]string{
				"etc/fdsnws.cfg": "include ~/inc.cfg\n",
				"~/inc.cfg":      "include ~/inc.cfg\nrequestLog = ~/req.log\n",
			},
			wantPath: "HOME/req.log", wantSource: "HOME/inc.cfg:2",
		},
		{
			name: "namespaced key is another parameter",
			files: map[string]string{
				"etc/fdsnws.cfg": "requestLog = /top.log\ntrackdb {\n  requestLog = /nested.log\n}\n",
			},
			wantPath: "/top.log", wantSource: "ROOT/etc/fdsnws.cfg:1",
		},
		{
			name: "del removes an earlier setting",
			files: map[string]string{
				"etc/defaults/fdsnws.cfg": "requestLog = /default.log\n",
				"etc/fdsnws.cfg":          "del requestLog\n",
			},
			wantErr: []string{"requestLog is not set"},
		},
		{
			name:  "not set",
			files: map[string]string{"etc/fdsnws.cfg": "port = 8080\n"},
			wantErr: []string{
				`add "requestLog = @LOGDIR@/fdsnws-requests.log" to ROOT/etc/fdsnws.cfg`,
				"ROOT/etc/defaults/fdsnws.cfg", "HOME/.seiscomp/fdsnws.cfg", "log.path",
			},
		},
		{
			name:    "no configuration at all",
			wantErr: []string{`add "requestLog = @LOGDIR@/fdsnws-requests.log" to ROOT/etc/fdsnws.cfg`},
		},
		{
			name:    "empty",
			files:   map[string]string{"etc/fdsnws.cfg": "requestLog = \"\"\n"},
			wantErr: []string{"requestLog is empty (ROOT/etc/fdsnws.cfg:1)", `add "requestLog = @LOGDIR@/fdsnws-requests.log"`},
		},
		{
			name:    "syntax error names file and line",
			files:   map[string]string{"etc/fdsnws.cfg": "port = 8080\nrequestLog = \"/unterminated\n"},
			wantErr: []string{"ROOT/etc/fdsnws.cfg:2", "missing terminating"},
		},
		{
			name:    "missing include",
			files:   map[string]string{"etc/fdsnws.cfg": "include nothere.cfg\nrequestLog = /x.log\n"},
			wantErr: []string{"ROOT/etc/fdsnws.cfg:1", "could not read include file nothere.cfg"},
		},
		{
			name:    "relative path",
			files:   map[string]string{"etc/fdsnws.cfg": "requestLog = log/req.log\n"},
			wantErr: []string{`requestLog "log/req.log" (ROOT/etc/fdsnws.cfg:1) is relative`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "seiscomp")
			home := filepath.Join(t.TempDir(), "sysop")
			sub := strings.NewReplacer("ROOT", root, "HOME", home).Replace
			for name, content := range tt.files {
				p := filepath.Join(root, name)
				if rest, ok := strings.CutPrefix(name, "~/"); ok {
					p = filepath.Join(home, rest)
				}
				writeFile(t, p, content)
			}
			env := map[string]string{"SEISCOMP_ROOT": root}
			for k, v := range tt.env {
				env[k] = sub(v)
			}
			path, source, err := FindRequestLog(func(k string) string { return env[k] }, home)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; got %q from %s", path, source)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), sub(w)) {
						t.Errorf("error lacks %q:\n%v", sub(w), err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := sub(tt.wantPath); path != want {
				t.Errorf("path %q, want %q", path, want)
			}
			if want := sub(tt.wantSource); source != want {
				t.Errorf("source %q, want %q", source, want)
			}
		})
	}
}

func TestUnreadableConfigIsAnError(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads everything; use a directory in place of the file instead.
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "etc", "fdsnws.cfg"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, _, err := FindRequestLog(func(k string) string { return map[string]string{"SEISCOMP_ROOT": root}[k] }, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "fdsnws.cfg") {
			t.Fatalf("got %v, want an error naming fdsnws.cfg", err)
		}
		return
	}
	root := t.TempDir()
	p := filepath.Join(root, "etc", "fdsnws.cfg")
	writeFile(t, p, "requestLog = /x\n")
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	_, _, err := FindRequestLog(func(k string) string { return map[string]string{"SEISCOMP_ROOT": root}[k] }, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("got %v, want permission denied", err)
	}
}

func TestExpandPath(t *testing.T) {
	e := Env{Root: "/opt/sc", Home: "/home/sysop", LocalConfigDir: "/home/sysop/.seiscomp"}
	tests := []struct{ in, want string }{
		{"@LOGDIR@/fdsnws-requests.log", "/home/sysop/.seiscomp/log/fdsnws-requests.log"},
		{"@CONFIGDIR@/x", "/home/sysop/.seiscomp/x"},
		{"@DEFAULTCONFIGDIR@/x", "/opt/sc/etc/defaults/x"},
		{"@SYSTEMCONFIGDIR@/x", "/opt/sc/etc/x"},
		{"@ROOTDIR@/var/log/x", "/opt/sc/var/log/x"},
		{"@DATADIR@/x", "/opt/sc/share/x"},
		{"@KEYDIR@/x", "/opt/sc/etc/key/x"},
		{"@HOMEDIR@/x", "/home/sysop/x"},
		{"~/log/x", "/home/sysop/log/x"},
		{"/a~/b", "/a~/b"},
		{"/x/@UNKNOWN@/y", "/x/@UNKNOWN@/y"},
		{"/x/@@y", "/x/@y"},
		{"/x/@UNKNOWN@LOGDIR@", "/x/@UNKNOWN@LOGDIR@"}, // scanning resumes after an unknown name's closing '@'
		{"/x/@LOGDIR", "/x/@LOGDIR"},
		{"@ROOTDIR@@LOGDIR@", "/opt/sc/home/sysop/.seiscomp/log"},
	}
	for _, tt := range tests {
		if got := e.ExpandPath(tt.in); got != tt.want {
			t.Errorf("ExpandPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandPathResolvesSymlinks(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	writeFile(t, filepath.Join(real, "req.log"), "")
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	e := Env{Root: dir, Home: dir, LocalConfigDir: dir}
	realDir, err := filepath.EvalSymlinks(real)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.ExpandPath("@ROOTDIR@/link/req.log"), filepath.Join(realDir, "req.log"); got != want {
		t.Errorf("existing file: got %q, want %q", got, want)
	}
	// Not yet written: kept as configured, like realpath(3) failing.
	if got, want := e.ExpandPath("@ROOTDIR@/link/new.log"), filepath.Join(dir, "link", "new.log"); got != want {
		t.Errorf("missing file: got %q, want %q", got, want)
	}
}

func TestNewEnv(t *testing.T) {
	root := t.TempDir()
	me, err := user.Current()
	if err != nil {
		t.Skip("no current user:", err)
	}
	tests := []struct {
		name string
		env  map[string]string
		home string
		want Env
	}{
		{"defaults", map[string]string{"HOME": "/nothere"}, "/home/sysop",
			Env{Root: DefaultRoot, Home: "/home/sysop", LocalConfigDir: "/home/sysop/.seiscomp"}},
		{"home from the owner of the root", map[string]string{"SEISCOMP_ROOT": root, "HOME": "/elsewhere"}, "",
			Env{Root: root, Home: me.HomeDir, LocalConfigDir: filepath.Join(me.HomeDir, ".seiscomp")}},
		{"HOME when the root does not exist", map[string]string{"SEISCOMP_ROOT": "/does/not/exist", "HOME": "/h"}, "",
			Env{Root: "/does/not/exist", Home: "/h", LocalConfigDir: "/h/.seiscomp"}},
		{"local config override", map[string]string{"SEISCOMP_ROOT": "/r", "SEISCOMP_LOCAL_CONFIG": "/lc"}, "/h",
			Env{Root: "/r", Home: "/h", LocalConfigDir: "/lc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewEnv(func(k string) string { return tt.env[k] }, tt.home)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

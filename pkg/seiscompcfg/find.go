// Package seiscompcfg finds the fdsnws request log from SeisComP's own
// configuration, so that eidastatsd can start without being told where the
// log is.
//
// It reads requestLog the way fdsnws does: the configuration stages of
// Seiscomp::Environment::initConfig (global.cfg, then fdsnws.cfg, in
// etc/defaults, etc and the user's ~/.seiscomp, later overriding earlier),
// parsed like Seiscomp::Config, then expanded like
// Seiscomp::Environment::absolutePath.
package seiscompcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DefaultRoot is used when $SEISCOMP_ROOT is unset. SeisComP itself falls
// back to a compile-time path or "."; a service has no useful working
// directory, so take the conventional installation of the sysop user.
const DefaultRoot = "/home/sysop/seiscomp"

// Env describes a SeisComP installation: the directories that
// Seiscomp::Environment derives and the placeholders expand to.
type Env struct {
	Root           string // @ROOTDIR@: $SEISCOMP_ROOT
	Home           string // @HOMEDIR@ and "~": the home of the user running fdsnws
	LocalConfigDir string // @CONFIGDIR@: $SEISCOMP_LOCAL_CONFIG or ~/.seiscomp
}

// NewEnv derives the installation from the environment. home is the home
// directory of the user fdsnws runs as; when empty it is the home of the
// owner of the SeisComP root (fdsnws usually runs as that user, eidastatsd
// as its own), falling back to $HOME.
func NewEnv(env func(string) string, home string) Env {
	root := env("SEISCOMP_ROOT")
	if root == "" {
		root = DefaultRoot
	}
	if home == "" {
		home = ownerHome(root)
	}
	if home == "" {
		home = env("HOME")
	}
	if home == "" {
		home = "." // as SeisComP does without $HOME
	}
	local := env("SEISCOMP_LOCAL_CONFIG")
	if local == "" {
		local = filepath.Join(home, ".seiscomp")
	}
	return Env{Root: root, Home: home, LocalConfigDir: local}
}

// ownerHome returns the home directory of the user owning dir, or "".
func ownerHome(dir string) string {
	fi, err := os.Stat(dir)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10))
	if err != nil {
		return ""
	}
	return u.HomeDir
}

// Dirs as named by Seiscomp::Environment.
func (e Env) DefaultConfigDir() string { return filepath.Join(e.Root, "etc", "defaults") }
func (e Env) SystemConfigDir() string  { return filepath.Join(e.Root, "etc") }
func (e Env) LogDir() string           { return filepath.Join(e.LocalConfigDir, "log") }
func (e Env) DataDir() string          { return filepath.Join(e.Root, "share") }
func (e Env) KeyDir() string           { return filepath.Join(e.Root, "etc", "key") }

// ConfigFiles lists the files fdsnws reads, in order, later overriding
// earlier (Environment::initConfig with stages default, system, user).
func (e Env) ConfigFiles(module string) []string {
	var files []string
	for _, dir := range []string{e.DefaultConfigDir(), e.SystemConfigDir(), e.LocalConfigDir} {
		files = append(files, filepath.Join(dir, "global.cfg"), filepath.Join(dir, module+".cfg"))
	}
	return files
}

// resolve replaces one @NAME@ placeholder, like PathResolver.
func (e Env) resolve(name string) (string, bool) {
	switch name {
	case "LOGDIR":
		return e.LogDir(), true
	case "CONFIGDIR":
		return e.LocalConfigDir, true
	case "DEFAULTCONFIGDIR":
		return e.DefaultConfigDir(), true
	case "SYSTEMCONFIGDIR":
		return e.SystemConfigDir(), true
	case "ROOTDIR":
		return e.Root, true
	case "DATADIR":
		return e.DataDir(), true
	case "KEYDIR":
		return e.KeyDir(), true
	case "HOMEDIR":
		return e.Home, true
	}
	return "", false
}

// ExpandPath expands placeholders and "~/" like Environment::absolutePath
// (Util::replace with "@" delimiters: "@@" is "@", unknown names stay), then
// resolves symbolic links when the file exists, as realpath(3) does there.
func (e Env) ExpandPath(p string) string {
	var b strings.Builder
	last, pos := 0, 0
	for {
		i := strings.IndexByte(p[pos:], '@')
		if i < 0 {
			break
		}
		start := pos + i
		j := strings.IndexByte(p[start+1:], '@')
		if j < 0 {
			break
		}
		end := start + 1 + j
		name := p[start+1 : end]
		var val string
		if name == "" {
			val = "@"
		} else if v, ok := e.resolve(name); ok {
			val = v
		} else {
			pos = end + 1
			continue
		}
		b.WriteString(p[last:start])
		b.WriteString(val)
		pos = end + 1
		last = pos
	}
	b.WriteString(p[last:])
	out := b.String()
	if strings.HasPrefix(out, "~/") {
		out = e.Home + out[1:]
	}
	if real, err := filepath.EvalSymlinks(out); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			out = abs
		}
	}
	return out
}

// Load reads the layered configuration of module ("fdsnws"). Missing files
// are skipped, as SeisComP does; unreadable ones are an error.
func (e Env) Load(module string, env func(string) string) (*Config, error) {
	c := NewConfig(env, e.Home)
	for _, f := range e.ConfigFiles(module) {
		if err := c.ReadFile(f); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
	}
	if len(c.Errors) > 0 {
		return c, fmt.Errorf("syntax error in SeisComP configuration (fdsnws would not start either): %w", errors.Join(c.Errors...))
	}
	return c, nil
}

// FindRequestLog returns the request log that fdsnws writes, and where it
// was configured ("file:line"). env is the process environment (os.Getenv);
// home as for NewEnv. The error tells the operator what to change.
func FindRequestLog(env func(string) string, home string) (path, source string, err error) {
	e := NewEnv(env, home)
	// References like ${SEISCOMP_ROOT} must see the root even when the
	// daemon's own environment lacks it.
	lookup := func(k string) string {
		if k == "SEISCOMP_ROOT" {
			return e.Root
		}
		return env(k)
	}
	c, err := e.Load("fdsnws", lookup)
	if err != nil {
		return "", "", fmt.Errorf("seiscompcfg: %w; or set log.path in the eidastatsd configuration", err)
	}
	value, sym, ok := c.Get("requestLog")
	if !ok || value == "" {
		where := "is not set"
		if ok {
			where = fmt.Sprintf("is empty (%s:%d)", sym.File, sym.Line)
		}
		return "", "", fmt.Errorf("seiscompcfg: fdsnws requestLog %s in %s: add \"requestLog = @LOGDIR@/fdsnws-requests.log\" to %s and restart fdsnws (seiscomp restart fdsnws), or set log.path in the eidastatsd configuration",
			where, strings.Join(e.ConfigFiles("fdsnws"), ", "), filepath.Join(e.SystemConfigDir(), "fdsnws.cfg"))
	}
	source = fmt.Sprintf("%s:%d", sym.File, sym.Line)
	path = e.ExpandPath(value)
	if !filepath.IsAbs(path) {
		return "", source, fmt.Errorf("seiscompcfg: requestLog %q (%s) is relative to fdsnws's working directory, which eidastatsd cannot know: use an absolute path or @LOGDIR@, or set log.path in the eidastatsd configuration", value, source)
	}
	return path, source, nil
}

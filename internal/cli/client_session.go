package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dandanchat/dandan/api"
)

// savedSession is the session file written by signup and login.
type savedSession struct {
	Servers  []string `json:"servers"`
	Handle   string   `json:"handle"`
	UserID   string   `json:"user_id"`
	DeviceID string   `json:"device_id"`
	Token    string   `json:"token"`
}

// sessionPath is $DANDAN_HOME/session.json, by default
// $HOME/.config/dandan/session.json.
func sessionPath(env Env) (string, error) {
	dir := getenv(env, "DANDAN_HOME")
	if dir == "" {
		home := getenv(env, "HOME")
		if home == "" {
			return "", errors.New("neither DANDAN_HOME nor HOME is set: cannot locate the session file")
		}
		dir = filepath.Join(home, ".config", "dandan")
	}
	return filepath.Join(dir, "session.json"), nil
}

func getenv(env Env, k string) string {
	if env.Getenv == nil {
		return ""
	}
	return env.Getenv(k)
}

// loadSession reads the session file; nil, nil if there is none.
func loadSession(env Env) (*savedSession, error) {
	p, err := sessionPath(env)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s savedSession
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("session file %s is damaged (%v): run `dandan login` again", p, err)
	}
	return &s, nil
}

// saveSession writes the session file, readable by the user only.
func saveSession(env Env, s *api.Session, servers []string) (string, error) {
	p, err := sessionPath(env)
	if err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(savedSession{
		Servers: servers, Handle: s.User.Handle, UserID: s.User.ID, DeviceID: s.Device.ID, Token: s.Token,
	}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".session-*.json")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(f.Name(), p)
}

// removeSession deletes the session file, if any.
func removeSession(env Env) error {
	p, err := sessionPath(env)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

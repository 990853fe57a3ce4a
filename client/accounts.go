package client

import (
	"context"
	"net/http"

	"github.com/dandanchat/dandan/api"
)

// SignUp creates an account and signs this device in; the token is stored in c.
func (c *Client) SignUp(ctx context.Context, r api.SignUpRequest) (*api.Session, error) {
	if err := checkNames(r.DisplayName, r.DeviceName); err != nil {
		return nil, err
	}
	var s api.Session
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/signup", in: r, out: &s, noAuth: true}); err != nil {
		return nil, err
	}
	c.SetToken(s.Token)
	return &s, nil
}

// SignIn signs this device in; the token is stored in c.
func (c *Client) SignIn(ctx context.Context, r api.SignInRequest) (*api.Session, error) {
	if err := checkNames("", r.DeviceName); err != nil {
		return nil, err
	}
	var s api.Session
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/signin", in: r, out: &s, noAuth: true}); err != nil {
		return nil, err
	}
	c.SetToken(s.Token)
	return &s, nil
}

func checkNames(display, device string) error {
	if e := api.CheckName("display name", display, api.MaxDisplayNameBytes); e != nil {
		return e
	}
	if e := api.CheckName("device name", device, api.MaxDeviceNameBytes); e != nil {
		return e
	}
	return nil
}

// SignOut revokes this device's token and forgets it.
func (c *Client) SignOut(ctx context.Context) error {
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/signout"}); err != nil {
		return err
	}
	c.SetToken("")
	return nil
}

// SignOutAll revokes the tokens of every device of the user and forgets this one.
func (c *Client) SignOutAll(ctx context.Context) error {
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/signout-all"}); err != nil {
		return err
	}
	c.SetToken("")
	return nil
}

// Me returns the signed-in user's profile.
func (c *Client) Me(ctx context.Context) (*api.Me, error) {
	var m api.Me
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/me", out: &m}); err != nil {
		return nil, err
	}
	return &m, nil
}

// Devices lists the user's signed-in devices, the calling one with Current set.
func (c *Client) Devices(ctx context.Context) ([]api.Device, error) {
	var ds []api.Device
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/devices", out: &ds}); err != nil {
		return nil, err
	}
	return ds, nil
}

// RevokeDevice signs one of the user's devices out.
func (c *Client) RevokeDevice(ctx context.Context, deviceID string) error {
	d, err := seg("device id", deviceID)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/devices/" + d})
}

// User looks a user up by handle or id.
func (c *Client) User(ctx context.Context, handleOrID string) (*api.User, error) {
	h, err := seg("user", handleOrID)
	if err != nil {
		return nil, err
	}
	var u api.User
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/users/" + h, out: &u}); err != nil {
		return nil, err
	}
	return &u, nil
}

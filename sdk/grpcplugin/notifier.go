package grpcplugin

import (
	"context"
	"sync"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCServer registers the notifier server adapter.
func (p *NotifierPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterNotifierServiceServer(s, &NotifierServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns an sdk.Notifier that calls the plugin.
func (p *NotifierPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewNotifierClient(ctx, pluginv1.NewNotifierServiceClient(c))
}

// NotifierClient implements sdk.Notifier by calling a NotifierService.
type NotifierClient struct {
	c      pluginv1.NotifierServiceClient
	info   sdk.Info
	schema sdk.Schema
	once   sync.Once
}

// NewNotifierClient asks the plugin to describe itself and returns the adapter.
func NewNotifierClient(ctx context.Context, c pluginv1.NotifierServiceClient) (*NotifierClient, error) {
	_, info, schema, err := describe(ctx, "notifier", c.Describe, &pluginv1.NotifierServiceDescribeRequest{})
	if err != nil {
		return nil, err
	}
	return &NotifierClient{c: c, info: info, schema: schema}, nil
}

func (n *NotifierClient) Info() sdk.Info     { return n.info }
func (n *NotifierClient) Schema() sdk.Schema { return n.schema }

func (n *NotifierClient) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	cfg, err := encodeConfig(req.Config, n.schema)
	if err != nil {
		return diagsFromError("Invalid notifier configuration", err)
	}
	resp, err := n.c.Configure(ctx, &pluginv1.NotifierServiceConfigureRequest{Config: cfg})
	if err != nil {
		return diagsFromError("Notifier plugin failed to configure", fromStatus(err))
	}
	return diagsFromProto(resp.GetDiagnostics())
}

func (n *NotifierClient) Notify(ctx context.Context, req sdk.NotifyRequest) error {
	_, err := n.c.Notify(ctx, &pluginv1.NotifyRequest{
		RunId: req.RunID, Pipeline: req.Pipeline, Status: req.Status, ExitCode: int32(req.ExitCode),
		StartedUnixMillis: millis(req.Started), FinishedUnixMillis: millis(req.Finished),
		Counts: req.Counts, Results: req.Results, Locations: req.Locations,
	})
	return fromStatus(err)
}

func (n *NotifierClient) Close() error {
	return closeOnce(&n.once, n.c.Close, &pluginv1.NotifierServiceCloseRequest{})
}

// NotifierServer serves any sdk.Notifier as a NotifierService.
type NotifierServer struct {
	pluginv1.UnimplementedNotifierServiceServer
	Impl sdk.Notifier
}

func (n *NotifierServer) Describe(context.Context, *pluginv1.NotifierServiceDescribeRequest) (*pluginv1.NotifierServiceDescribeResponse, error) {
	return &pluginv1.NotifierServiceDescribeResponse{Info: infoToProto(n.Impl.Info()), Schema: schemaToProto(n.Impl.Schema())}, nil
}

func (n *NotifierServer) Configure(ctx context.Context, req *pluginv1.NotifierServiceConfigureRequest) (*pluginv1.NotifierServiceConfigureResponse, error) {
	v, err := decodeConfig(req.GetConfig(), n.Impl.Schema())
	if err != nil {
		return &pluginv1.NotifierServiceConfigureResponse{Diagnostics: diagsToProto(diagsFromError("Invalid notifier configuration", err))}, nil
	}
	return &pluginv1.NotifierServiceConfigureResponse{Diagnostics: diagsToProto(n.Impl.Configure(ctx, sdk.ConfigureRequest{Config: v}))}, nil
}

func (n *NotifierServer) Notify(ctx context.Context, req *pluginv1.NotifyRequest) (*pluginv1.NotifyResponse, error) {
	err := n.Impl.Notify(ctx, sdk.NotifyRequest{
		RunID: req.GetRunId(), Pipeline: req.GetPipeline(), Status: req.GetStatus(), ExitCode: int(req.GetExitCode()),
		Started: fromMillis(req.GetStartedUnixMillis()), Finished: fromMillis(req.GetFinishedUnixMillis()),
		Counts: req.GetCounts(), Results: req.GetResults(), Locations: req.GetLocations(),
	})
	return &pluginv1.NotifyResponse{}, toStatus(err)
}

func (n *NotifierServer) Close(context.Context, *pluginv1.NotifierServiceCloseRequest) (*pluginv1.NotifierServiceCloseResponse, error) {
	return &pluginv1.NotifierServiceCloseResponse{}, toStatus(n.Impl.Close())
}

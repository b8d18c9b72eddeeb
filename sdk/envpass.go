package sdk

// EnvPasser is implemented by a built-in component that reads a credential
// chain from the environment on its own (the AWS SDK's AWS_* variables,
// Azure's DefaultAzureCredential). A plugin process starts with a minimal
// environment (see grpcplugin.PluginEnv); PassEnv names the further
// variables this component's process gets: exact names, or prefixes ending
// in "*". Only built-ins are asked: a third-party plugin receives values
// through its configuration only (env("...") in the pipeline file).
type EnvPasser interface {
	PassEnv() []string
}

// Command check validates hookbridge's deployment files offline, as CI
// runs it (go run ./deploy/check from its own module, see .ci/deploy.sh):
//
//   - deploy/kubernetes renders with kustomize (what `kubectl apply -k`
//     builds), and every object decodes strictly into its Kubernetes API type:
//     an unknown or misspelt field, a wrong type or an unknown kind fails;
//   - references inside the manifests hold: volume mounts name declared
//     volumes, ConfigMaps and Secrets named exist (or are the out-of-band
//     hookbridge-secrets, whose keys secret.example.yaml lists), selectors
//     match their pod labels;
//   - the hookbridge configuration files the manifests and docker-compose.yml
//     ship load with hookbridge's own loader (unknown keys refused);
//   - docker-compose.yml loads with the Compose specification's loader
//     (compose-go, what `docker compose config` uses): schema, interpolation
//     and references between services, volumes and networks.
//
// No cluster and no Docker engine are needed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/hookbridge/hookbridge/internal/config"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	var problems []error
	n, err := checkKubernetes(root)
	if err != nil {
		problems = append(problems, err)
	} else {
		fmt.Printf("deploy/kubernetes: %d objects render and pass the API schemas and reference checks\n", n)
	}
	if err := checkCompose(root); err != nil {
		problems = append(problems, err)
	} else {
		fmt.Println("docker-compose.yml: valid Compose file; its hookbridge config files load")
	}
	if len(problems) > 0 {
		fmt.Fprintln(os.Stderr, errors.Join(problems...))
		os.Exit(1)
	}
}

// outOfBandSecret is created by the operator, not by the kustomization.
const outOfBandSecret = "hookbridge-secrets"

func checkKubernetes(root string) (int, error) {
	dir := filepath.Join(root, "deploy", "kubernetes")
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return 0, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return 0, err
		}
	}
	decode := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer().Decode
	var objs []runtime.Object
	var errs []error
	for _, r := range rm.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			return 0, err
		}
		obj, _, err := decode(raw, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err))
			continue
		}
		objs = append(objs, obj)
	}
	example, err := os.ReadFile(filepath.Join(dir, "secret.example.yaml"))
	if err != nil {
		return 0, err
	}
	obj, _, err := decode(example, nil, nil)
	secret, ok := obj.(*corev1.Secret)
	if err != nil || !ok || secret.Name != outOfBandSecret {
		return 0, fmt.Errorf("secret.example.yaml: want the Secret %s: %v", outOfBandSecret, err)
	}
	errs = append(errs, checkReferences(objs, secret)...)
	return len(objs), errors.Join(errs...)
}

// checkReferences checks what the API server would only find at run time:
// names that point at nothing.
func checkReferences(objs []runtime.Object, example *corev1.Secret) []error {
	var errs []error
	configMaps := map[string]*corev1.ConfigMap{}
	secretKeys := map[string][]string{outOfBandSecret: nil}
	for k := range example.StringData {
		secretKeys[outOfBandSecret] = append(secretKeys[outOfBandSecret], k)
	}
	for k := range example.Data {
		secretKeys[outOfBandSecret] = append(secretKeys[outOfBandSecret], k)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			configMaps[o.Name] = o
			for key, text := range o.Data {
				if strings.HasSuffix(key, ".yaml") {
					if err := checkConfigFile("ConfigMap "+o.Name+" "+key, text); err != nil {
						errs = append(errs, err)
					}
				}
			}
		case *corev1.Secret:
			secretKeys[o.Name] = nil
		}
	}
	for _, o := range objs {
		name, selector, pod, claims := podOf(o)
		if pod == nil {
			continue
		}
		if selector != nil && !labels.SelectorFromSet(selector).Matches(labels.Set(pod.Labels)) {
			errs = append(errs, fmt.Errorf("%s: selector %v does not match the pod labels %v", name, selector, pod.Labels))
		}
		errs = append(errs, checkPod(name, &pod.Spec, claims, configMaps, secretKeys)...)
	}
	return errs
}

// podOf returns a workload's name, selector, pod template and the volume
// claims it adds to each pod.
func podOf(o runtime.Object) (string, map[string]string, *corev1.PodTemplateSpec, []string) {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return "Deployment " + o.Name, o.Spec.Selector.MatchLabels, &o.Spec.Template, nil
	case *appsv1.StatefulSet:
		var claims []string
		for _, c := range o.Spec.VolumeClaimTemplates {
			claims = append(claims, c.Name)
		}
		return "StatefulSet " + o.Name, o.Spec.Selector.MatchLabels, &o.Spec.Template, claims
	case *batchv1.Job:
		return "Job " + o.Name, nil, &o.Spec.Template, nil
	}
	return "", nil, nil, nil
}

func checkPod(name string, spec *corev1.PodSpec, claims []string, configMaps map[string]*corev1.ConfigMap, secretKeys map[string][]string) []error {
	var errs []error
	secretKey := func(where, secret, key string, optional bool) {
		keys, ok := secretKeys[secret]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %s names the Secret %s, which nothing creates", name, where, secret))
		case key != "" && secret == outOfBandSecret && !slices.Contains(keys, key) && !optional:
			errs = append(errs, fmt.Errorf("%s: %s needs key %s, which secret.example.yaml does not list", name, where, key))
		}
	}
	volumes := map[string]bool{}
	for _, c := range claims {
		volumes[c] = true
	}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
		switch {
		case v.ConfigMap != nil:
			cm, ok := configMaps[v.ConfigMap.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: volume %s names the ConfigMap %s, which nothing creates", name, v.Name, v.ConfigMap.Name))
			}
			for _, it := range v.ConfigMap.Items {
				if _, has := cm.Data[it.Key]; ok && !has {
					errs = append(errs, fmt.Errorf("%s: volume %s wants key %s of ConfigMap %s", name, v.Name, it.Key, cm.Name))
				}
			}
		case v.Secret != nil:
			optional := v.Secret.Optional != nil && *v.Secret.Optional
			secretKey("volume "+v.Name, v.Secret.SecretName, "", optional)
			for _, it := range v.Secret.Items {
				secretKey("volume "+v.Name, v.Secret.SecretName, it.Key, optional)
			}
		}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				errs = append(errs, fmt.Errorf("%s: container %s mounts %s, which is not among the pod's volumes", name, c.Name, m.Name))
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				secretKey("env "+e.Name, ref.Name, ref.Key, ref.Optional != nil && *ref.Optional)
			}
		}
	}
	return errs
}

func checkCompose(root string) error {
	ctx := context.Background()
	env := map[string]string{} // the defaults after :- are what a fresh clone runs with
	project, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("hookbridge", true) })
	if err != nil {
		return fmt.Errorf("docker-compose.yml: %w", err)
	}
	if len(project.Services) == 0 {
		return errors.New("docker-compose.yml: no services")
	}
	// The hookbridge config files the services mount, and the ConfigMap's.
	var errs []error
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "compose", "*.yaml"))
	for _, f := range files {
		if _, err := config.Load(f, nil); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// checkConfigFile loads a hookbridge configuration text with hookbridge's
// own loader, as the pods will at start.
func checkConfigFile(where, text string) error {
	f, err := os.CreateTemp("", "hookbridge-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		return err
	}
	f.Close()
	if _, err := config.Load(f.Name(), nil); err != nil {
		return fmt.Errorf("%s: %s", where, strings.ReplaceAll(err.Error(), f.Name(), "hookbridge.yaml"))
	}
	return nil
}

{{/*
Generated from service/contract.py by `python -m helm`: do not edit by hand.
The chart's templates take these values from here and nowhere else.
*/}}
{{- define "cloud-optimizer.contract.version" -}}1.0.0{{- end }}
{{- define "cloud-optimizer.contract.healthPath" -}}/health{{- end }}
{{- define "cloud-optimizer.contract.readyPath" -}}/ready{{- end }}
{{- define "cloud-optimizer.contract.uid" -}}1000{{- end }}
{{- define "cloud-optimizer.contract.gid" -}}1000{{- end }}
{{- define "cloud-optimizer.contract.rdsCaBundlePath" -}}/opt/cloud-optimizer/certs/rds-global-bundle.pem{{- end }}
{{- define "cloud-optimizer.contract.unretryableExitCodes" -}}[64, 65, 77, 78]{{- end }}

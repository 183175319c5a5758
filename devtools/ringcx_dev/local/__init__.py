"""Run the whole broker locally: no AWS account, no Docker, no network.

``python -m ringcx_dev.local`` starts the RingCentral/RingCX simulator, moto's
Secrets Manager with the template's secrets, the three functions in warm
child processes (the code ``sam build`` packages, with the template's
environment), a local REST API that speaks API Gateway's proxy events, a
Lambda Invoke API for the proxy's on-demand refresh, and the template's
schedule. Modules: ``template`` (read template.yaml), ``apigw`` (events),
``worker``/``functions`` (containers), ``lambda_api``, ``api``, ``sigv4``
(``--require-sigv4``: API Gateway's AWS_IAM signature check), ``schedule``,
``runner`` (start/stop order), ``cli`` and ``smoke``.
"""

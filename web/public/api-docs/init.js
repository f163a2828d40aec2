// The interactive API documentation: Swagger UI (from the swagger-ui-dist package, served by
// DocuVault itself, no CDN) over the server's own OpenAPI document. "Authorize" takes an access
// token (from POST /api/auth/login).
window.ui = SwaggerUIBundle({
  url: '/api/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  tryItOutEnabled: false,
})

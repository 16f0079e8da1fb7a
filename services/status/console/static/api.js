// The status API (same origin) and the ingest API (its URL from /console/config.json).

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function problem(response) {
  let detail = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    detail = body.detail || body.title || detail;
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, detail);
}

export class Api {
  constructor(token, ingestUrl) {
    this.token = token;
    this.ingestUrl = ingestUrl;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async get(path) {
    const response = await fetch(path, { headers: this.headers() });
    if (!response.ok) throw await problem(response);
    return response.json();
  }

  async post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: this.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await problem(response);
    return response.json();
  }

  // POST a file to ingest; onProgress(fraction) while the bytes go out. XHR, because
  // fetch() reports no upload progress.
  upload(file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.ingestUrl}/v1/documents`);
      xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.setRequestHeader("Idempotency-Key", `console-${crypto.randomUUID()}`);
      xhr.responseType = "json";
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => {
        const body = xhr.response || {};
        if (xhr.status === 202) resolve(body);
        else reject(new ApiError(xhr.status, body.detail || body.title || `HTTP ${xhr.status}`));
      };
      xhr.onerror = () => reject(new ApiError(0, `ingest at ${this.ingestUrl} did not answer`));
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }
}

// The token's claims, read without checking them (the services check them).
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}
